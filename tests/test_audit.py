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
