"""One bad row never hides good ones: a segment the store refuses is bisected, the good rows
stored, the refused line kept, and a crash in the middle stores nothing twice."""

import json
import subprocess
import sys

from collector.spool.segments import Spool
from tests.e2e.harness import query_store

ROWS = 1000
BAD_AT = 617


def _line(seq: int) -> bytes:
    row = {"client_id": "c_test", "ts": "2026-11-30 10:00:00.000", "kind": "pageview", "name": "pageview", "host": "shop.example",
           "path": f"/p/{seq}", "key_id": "2026-11-30", "retention_days": 395, "props": {"seq": str(seq)}}
    if seq == BAD_AT:
        row["ts"] = "not a time"  # a type error only this line has
    return json.dumps(row).encode() + b"\n"


def _ship(data_dir, crash_after: int | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "tests.store.ship_helper", str(data_dir)] + ([str(crash_after)] if crash_after else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=180)


def test_one_corrupted_line_among_1000_and_a_crash_mid_bisection(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append(b"".join(_line(seq) for seq in range(ROWS)))
    spool.seal()
    spool.close()

    crashed = _ship(tmp_path, crash_after=4)  # dies after 4 good parts of the bisection
    assert crashed.returncode == 3, crashed.stderr[-2000:]
    assert len(list((tmp_path / "spool" / "ready").iterdir())) == 1  # the segment is still there

    done = _ship(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["shipped"] and result["rows_quarantined"] == 1

    rows = query_store(tmp_path, "SELECT props['seq'] AS seq, count() AS n FROM spii.events GROUP BY seq")
    stored = {int(r["seq"]): r["n"] for r in rows}
    assert len(stored) == ROWS - 1 and BAD_AT not in stored
    assert set(stored.values()) == {1}, "a row was stored twice"
    failed = list((tmp_path / "spool" / "failed").iterdir())
    assert len(failed) == 1 and failed[0].read_bytes() == _line(BAD_AT)
    assert not list((tmp_path / "spool" / "ready").iterdir())
    print(f"{len(stored)} stored once each, 1 quarantined; {result['inserts']} inserts after the restart")
