"""Real embedded ClickHouse stores for the report tests: one per test module, loaded once."""

from __future__ import annotations

from collections.abc import Iterator

from collector.store.clickhouse import Store


class CountingStore(Store):
    """The real store, counting the SELECTs sent to it (and how many were row counts)."""

    selects = 0
    counts = 0

    def query(self, sql, parameters=None):
        self.selects += 1
        self.counts += sql.startswith("SELECT count() FROM spii.events WHERE")
        return super().query(sql, parameters)

    def query_dicts(self, sql, parameters=None):
        self.selects += 1
        return super().query_dicts(sql, parameters)


def loaded(tmp_path_factory, name: str, rows: bytes, kind: type[Store] = Store) -> Iterator[Store]:
    """A migrated store in a temp dir holding ``rows`` (JSONEachRow), closed after the module."""
    store = kind(f"chdb://{tmp_path_factory.mktemp(name)}/clickhouse")
    store.migrate()
    store.insert_segment(rows, f"{name}-0")
    yield store
    store.close()
