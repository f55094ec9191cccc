"""A spool that cannot write refuses (SpoolRefused with the reason), keeps no part of the refused
rows, and takes events again once a write succeeds. The write failures here are the kernel's
own: the open segment's descriptor is pointed at /dev/full (every write: ENOSPC)."""

from __future__ import annotations

import os

import pytest

from collector.ingest.sessions import SessionCache
from collector.spool.segments import Spool, SpoolRefused

ROW = b'{"n":"pageview"}\n'


def _full(spool: Spool) -> None:
    """From now on the open segment's writes fail with ENOSPC, as on a full disk."""
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, spool._fd)
    os.close(full)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this machine")
def test_a_full_disk_refuses_then_recovers_with_every_accepted_row_once(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append(ROW)
    spool.append(ROW)
    assert spool.refusal() is None
    _full(spool)
    with pytest.raises(SpoolRefused) as refused:
        spool.append(ROW * 3)
    assert refused.value.reason == "disk_full"
    assert spool.refusal() == "disk_full"  # refused at once, without trying to write
    with pytest.raises(SpoolRefused):
        spool.append(ROW)
    spool.check_space()  # the probe write (on the real disk) succeeds: events are taken again
    assert spool.refusal() is None
    spool.append(ROW)
    spool.seal()
    stored = b"".join(p.read_bytes() for p in sorted((tmp_path / "spool" / "ready").glob("*.jsonl")))
    assert stored == ROW * 3  # the two before and the one after: nothing of the refused rows


def test_a_free_space_floor_refuses_before_the_disk_is_full(tmp_path):
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    assert Spool(tmp_path / "a", min_free_bytes=1 << 20).refusal() is None
    spool = Spool(tmp_path / "b", min_free_bytes=free * 2)
    assert spool.refusal() == "disk_low"
    with pytest.raises(SpoolRefused) as refused:
        spool.append(ROW)
    assert refused.value.reason == "disk_low" and "SPII_SPOOL_MIN_FREE_BYTES" in str(refused.value)
    assert not list((tmp_path / "b" / "open").iterdir())


def test_visit_steps_held_for_a_later_write_are_undone_when_it_fails():
    sessions = SessionCache()
    sessions.begin()
    first = sessions.step("c", 1, 1000.0, "/", (), True)
    sessions.commit()
    sessions.begin()
    second = sessions.step("c", 1, 1010.0, "/b", (), True)
    new = sessions.step("c", 2, 1010.0, "/", (), True)
    held = sessions.detach()
    assert (second.event, new.event) == (2, 1)
    sessions.undo(held)  # the write of their rows failed
    sessions.begin()
    again = sessions.step("c", 1, 1020.0, "/b", (), True)
    assert again.visit is first.visit and again.event == 2 and again.seconds == 20
    assert sessions.step("c", 2, 1020.0, "/", (), True).event == 1 and len(sessions) == 2
