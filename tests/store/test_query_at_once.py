"""Several reads at once (Store.query_at_once, a page's parts): each gives what it gives alone,
in order, round after round; a failed read raises after all are done and leaves the store
usable; close() closes the readers, and another engine path opens after it. Real embedded ClickHouse (more chDB handles to one engine, in threads)."""

import pytest

from collector.store.clickhouse import Store

_READS = [
    ("SELECT number, toString(number * {m:UInt64}) FROM numbers(2000) WHERE number % {m:UInt64} = 0 ORDER BY number", {"m": m})
    for m in (1, 2, 3, 5, 7, 11, 13, 17, 19)  # (more than the readers: some share one, in turn)
]


def test_reads_at_once_give_what_each_gives_alone_in_order(tmp_path):
    store = Store(f"chdb://{tmp_path}/clickhouse")
    try:
        alone = [store.query(sql, params) for sql, params in _READS]
        for _ in range(20):
            assert store.query_at_once(_READS) == alone
        assert store.query_at_once(_READS[:1]) == alone[:1] and store.query_at_once([]) == []
        assert len(store._readers) == 6  # (bounded: the rest waited for a reader)
    finally:
        store.close()
    assert store._readers == [] and store._pool is None
    other = Store(f"chdb://{tmp_path}/other")  # chDB opens one engine path at a time: every handle was closed
    try:
        assert other.query("SELECT 1") == [(1,)]
    finally:
        other.close()


@pytest.mark.parametrize("bad", [0, 4])
def test_a_failed_read_raises_once_all_are_done_and_the_store_goes_on(tmp_path, bad):
    store = Store(f"chdb://{tmp_path}/clickhouse")
    try:
        reads = list(_READS[:5])
        reads[bad] = ("SELECT no_such_column", {})
        with pytest.raises(Exception, match="no_such_column"):
            store.query_at_once(reads)
        assert not store._lock.locked() and store.query_at_once(_READS[:5]) == [store.query(s, p) for s, p in _READS[:5]]
    finally:
        store.close()

