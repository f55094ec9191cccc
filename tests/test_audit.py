import json
import os

from collector.audit import AuditLog
from collector.privacy.masterkey import MasterKey


def test_chain_verifies_and_detects_edits_deletes_and_forgery(tmp_path):
    master = MasterKey(os.urandom(32))
    log = AuditLog(tmp_path / "audit.log", master)
    for i in range(5):
        log.append("subject.export", actor="admin:ab12", count=i, subject=log.fingerprint("198.51.100.7"))
    assert log.verify().ok and log.verify().lines == 5
    assert "198.51.100.7" not in (tmp_path / "audit.log").read_text()

    lines = (tmp_path / "audit.log").read_text().splitlines()
    edited = json.loads(lines[2])
    edited["details"]["count"] = 99
    (tmp_path / "audit.log").write_text("\n".join(lines[:2] + [json.dumps(edited)] + lines[3:]) + "\n")
    result = log.verify()
    assert not result.ok and result.line_no == 3

    (tmp_path / "audit.log").write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert not log.verify().ok  # a removed line breaks the chain

    (tmp_path / "audit.log").write_text("\n".join(lines) + "\n")
    other = AuditLog(tmp_path / "audit.log", MasterKey(os.urandom(32)))
    assert not other.verify().ok  # a forger without the master key cannot produce valid MACs


def test_a_cut_tail_is_detected_by_the_anchor(tmp_path):
    master = MasterKey(os.urandom(32))
    log = AuditLog(tmp_path / "audit.log", master)
    for i in range(6):
        log.append("keys.rotate", actor="test", added=[str(i)])
    assert log.verify().ok and log.verify().lines == 6
    lines = (tmp_path / "audit.log").read_bytes().splitlines(keepends=True)
    (tmp_path / "audit.log").write_bytes(b"".join(lines[:4]))  # the last two entries cut: the chain itself still verifies
    result = log.verify()
    assert not result.ok and "truncated" in result.problem and "4" in result.problem and "6" in result.problem

    (tmp_path / "audit.log").write_bytes(b"".join(lines))
    anchor = log.anchor_path.read_bytes()
    log.anchor_path.unlink()
    assert "anchor file is missing" in log.verify().problem
    log.anchor_path.write_bytes(anchor.replace(b'"seq": 6', b'"seq": 2'))
    assert "MAC" in log.verify().problem  # an edited anchor is caught too
    log.anchor_path.write_bytes(anchor)
    assert log.verify().ok
    log.append("keys.rotate", actor="test", added=["7"])  # appends continue the sequence
    assert log.verify().ok and log.verify().lines == 7


def test_spii_audit_verify_reports_the_cut_tail(tmp_path):
    import base64
    import subprocess
    import sys

    env = {**os.environ, "SPII_DATA_DIR": str(tmp_path), "SPII_MASTER_KEY": base64.b64encode(b"a" * 32).decode()}
    for _ in range(3):
        subprocess.run([sys.executable, "-m", "collector", "keys", "rotate"], env=env, check=True, capture_output=True)
    ok = subprocess.run([sys.executable, "-m", "collector", "audit", "verify"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "3 entries" in ok.stdout
    lines = (tmp_path / "audit.log").read_bytes().splitlines(keepends=True)
    (tmp_path / "audit.log").write_bytes(lines[0])
    cut = subprocess.run([sys.executable, "-m", "collector", "audit", "verify"], env=env, capture_output=True, text=True)
    assert cut.returncode == 1 and "truncated" in cut.stdout
