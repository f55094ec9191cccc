"""The spool on a real filesystem: appends, seals, and recovery of torn tails after a crash."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.spool.segments import Spool, cut_torn_tail

ROW = b'{"client_id":"c","path":"/"}\n'


def test_seal_moves_the_segment_and_shipping_reads_it_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_segment_bytes=10 * len(ROW))
    for _ in range(25):
        spool.append(ROW)
    spool.seal()
    segments = spool.ready_segments()
    assert [s.sync_and_read().count(b"\n") for s in segments] == [10, 10, 5]
    for segment in segments:
        spool.done(segment)
    assert spool.ready_count() == 0 and spool.used_bytes == 0


def test_recovery_cuts_torn_tails_of_open_and_sealed_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(ROW * 3)
    sealed = spool.seal()
    assert sealed is not None
    with open(sealed.path, "ab") as handle:  # power loss after the rename: zeros in the tail
        handle.write(b'{"client_id":"c","pa' + b"\0" * 4096)
    spool.append(ROW * 2)
    assert spool._current is not None
    os.write(spool._fd, b'{"client_id":"c"')  # kill -9 mid-write: a torn, unacknowledged line
    only_torn = tmp_path / "open" / "00000000000000000001-deadbeef.jsonl"
    only_torn.write_bytes(b'{"torn')

    recovered = Spool(tmp_path)
    bodies = [s.sync_and_read() for s in recovered.ready_segments()]
    assert bodies == [ROW * 3, ROW * 2]
    assert not only_torn.exists()


@settings(max_examples=200, deadline=None)
@given(lines=st.integers(0, 50), tail=st.binary(max_size=300).filter(lambda b: b"\n" not in b))
def test_cut_torn_tail_keeps_exactly_the_complete_lines(tmp_path_factory, lines: int, tail: bytes) -> None:
    path = tmp_path_factory.mktemp("cut") / "s.jsonl"
    path.write_bytes(ROW * lines + tail)
    assert cut_torn_tail(path) == len(ROW) * lines
    assert path.read_bytes() == ROW * lines
