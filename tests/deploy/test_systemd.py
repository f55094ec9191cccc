"""deploy/systemd: hardened units that systemd itself accepts."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(UNITS / name)
    return parser


def test_collector_unit_is_hardened() -> None:
    service = _unit("spii.service")["Service"]
    for key, value in {"User": "spii", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/spii",
                       "PrivateTmp": "yes", "Restart": "on-failure", "KillSignal": "SIGTERM"}.items():
        assert service.get(key) == value, key
    assert service.get("CapabilityBoundingSet") == ""


def test_key_timer_runs_rotation_and_prune_daily() -> None:
    timer = _unit("spii-keys.timer")["Timer"]
    assert "03:15" in timer["OnCalendar"] and timer["Persistent"] == "true"
    text = (UNITS / "spii-keys.service").read_text()
    assert "spii keys rotate --ahead 7" in text and "spii keys prune" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    for unit in UNITS.iterdir():  # the spii binary is not installed at /opt here: point at /bin/true
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/spii/.venv/bin/spii", "/bin/true"))
    out = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                         capture_output=True, text=True, timeout=60)
    # only complaints about our units count (the host's own units may warn about anything)
    ours = [line for line in out.stderr.splitlines() if any(unit.name in line for unit in UNITS.iterdir())]
    assert out.returncode == 0 and ours == [], out.stderr
