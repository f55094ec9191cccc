"""`spii keys` and `spii audit` through the installed console script."""

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

SPII = Path(sys.executable).with_name("spii")


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e.update(SPII_DATA_DIR=str(tmp_path), SPII_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
    return e


def spii(env, *args, check=True):
    proc = subprocess.run([str(SPII), *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_console_script_is_installed():
    assert SPII.exists()


def test_rotate_status_destroy_json(env, tmp_path):
    status = spii(env, "keys", "status", "--json", "--check", check=False)
    assert status.returncode == 1 and json.loads(status.stdout)["ok"] is False

    rotated = json.loads(spii(env, "keys", "rotate", "--ahead", "3", "--json").stdout)
    today = datetime.now(UTC).date()
    assert rotated["added"][0] == today.isoformat() and rotated["ahead"] == 3

    status = json.loads(spii(env, "keys", "status", "--json", "--check").stdout)
    assert status["ok"] and status["ip"]["active"] == today.isoformat() and status["ip"]["pending"] == 3

    destroyed = json.loads(spii(env, "keys", "destroy", "--before", (today + timedelta(days=10)).isoformat(), "--json").stdout)
    assert destroyed["destroyed"] == []  # nothing has ended yet: live epochs are never shredded
    assert today.isoformat() in destroyed["skipped_live"]

    human = spii(env, "keys", "status").stdout
    assert "active=" + today.isoformat() in human

    assert json.loads(spii(env, "audit", "verify", "--json").stdout) == {"ok": True, "entries": 2, "problem": "", "line": 0}
    audit = (tmp_path / "audit.log").read_text()
    assert "keys.rotate" in audit and "keys.destroy" in audit
    assert env["SPII_MASTER_KEY"] not in audit


def test_wrong_master_key_is_refused_cleanly(env, tmp_path):
    spii(env, "keys", "rotate")
    before = (tmp_path / "keyring.json").read_bytes()
    env["SPII_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    proc = spii(env, "keys", "rotate", check=False)
    assert proc.returncode == 2 and "master key does not match" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "keyring.json").read_bytes() == before


def test_bad_date_is_a_clear_error(env):
    proc = spii(env, "keys", "destroy", "--before", "yesterday", check=False)
    assert proc.returncode == 2 and "YYYY-MM-DD" in proc.stderr


def test_python_dash_m_collector_works(env):
    proc = subprocess.run([sys.executable, "-m", "collector", "keys", "status", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ip" in json.loads(proc.stdout)


def test_dev_master_key_warns_and_is_private(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SPII_")}
    e["SPII_DATA_DIR"] = str(tmp_path)
    proc = spii(e, "keys", "rotate")
    assert "development master key" in proc.stderr
    assert oct((tmp_path / "master.key").stat().st_mode & 0o777) == "0o600"


def test_prune_destroys_keys_past_the_longest_retention_plus_grace(env, tmp_path):
    """Clock 2 of retention: a key goes once every row it could re-identify has expired."""
    from collector.privacy.keyring import KeyringStore
    from collector.privacy.masterkey import MasterKey

    now = datetime.now(UTC)
    master = MasterKey.load(env["SPII_MASTER_KEY"], None, tmp_path / "unused")
    store = KeyringStore(tmp_path / "keyring.json", master)
    store.rotate(0, now=now - timedelta(days=120), cookie_ahead=0)  # one old ip epoch (and a cookie one)
    store.rotate(0, now=now - timedelta(days=20), cookie_ahead=0)
    store.rotate(2, now=now)
    spii(env, "clients", "add", "short", "--domain", "short.example", "--retention-days", "30")
    spii(env, "clients", "add", "long", "--domain", "long.example", "--retention-days", "90")

    status = json.loads(spii(env, "keys", "status", "--json").stdout)
    old_end = (now - timedelta(days=120)).date() + timedelta(days=1)
    assert status["destruction_policy"] == {"longest_retention_days": 90, "grace_days": 7}
    assert status["next_destruction"]["ip"] == (old_end + timedelta(days=97)).isoformat()

    pruned = json.loads(spii(env, "keys", "prune", "--json").stdout)
    old_id = (now - timedelta(days=120)).date().isoformat()
    assert old_id in pruned["destroyed"]  # 120 days > 90 + 7
    assert (now - timedelta(days=20)).date().isoformat() not in pruned["destroyed"]  # rows may still exist
    assert json.loads(spii(env, "keys", "prune", "--json").stdout)["destroyed"] == []  # idempotent
    after = json.loads(spii(env, "keys", "status", "--json").stdout)
    assert after["ip"]["active"] == now.date().isoformat() and after["ip"]["destroyed"] >= 1
    audit = (tmp_path / "audit.log").read_text()
    assert '"keys.prune"' in audit
