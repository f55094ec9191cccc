"""The cluster schema (sql/cluster/) in embedded ClickHouse: every statement parses (EXPLAIN AST),
and its tables define exactly the columns (names and types) of the single-node migrations."""

from __future__ import annotations

import re

import pytest

from collector.store.clickhouse import cluster_statements, sql_dir
from tests.e2e.harness import run_json

HELPER = r"""
import json, re, sys, tempfile
from collector.store.clickhouse import Store, cluster_statements, sql_dir
store = Store("chdb://" + tempfile.mkdtemp())
out = {"ast": [], "single": {}, "cluster": {}}
sql = "".join(p.read_text() for p in sorted((sql_dir() / "cluster").glob("*.sql")))
for statement in cluster_statements(sql, "spii_cluster"):
    out["ast"].append([r[0] for r in store.query("EXPLAIN AST " + statement)])
store.migrate()  # the single-node schema
# the cluster tables, made local: no ON CLUSTER, plain engines, another database
store.command("CREATE DATABASE IF NOT EXISTS cl")
for statement in cluster_statements(sql, "spii_cluster"):
    if "Distributed" in statement or "CREATE DATABASE" in statement or re.search(r"TABLE spii\.(events|daily_days) ", statement):
        continue  # (the Distributed tables and their ALTERs exist only on a cluster)
    local = re.sub(r" ON CLUSTER '\w+'", "", statement).replace("spii.", "cl.")
    local = re.sub(r"Replicated(\w*)MergeTree\('[^']*', '\{replica\}'(, )?", r"\1MergeTree(", local)
    store.command(local)
for db, key in (("spii", "single"), ("cl", "cluster")):
    for table, name, type_ in store.query(
            f"SELECT table, name, type FROM system.columns WHERE database = '{db}' AND table != 'schema_migrations' ORDER BY table, position"):
        out[key].setdefault(table.replace("_local", ""), []).append([name, type_])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def parsed() -> dict:
    return run_json(HELPER)


def test_every_cluster_statement_parses(parsed: dict) -> None:
    sql = "".join(p.read_text() for p in sorted((sql_dir() / "cluster").glob("*.sql")))
    assert len(parsed["ast"]) == len(cluster_statements(sql, "spii_cluster")) >= 4
    for ast in parsed["ast"]:
        assert ast and ast[0].startswith(("CreateQuery", "AlterQuery", "TruncateQuery"))


def test_cluster_tables_define_the_single_node_columns(parsed: dict) -> None:
    assert set(parsed["cluster"]) == set(parsed["single"]) == {"events", "subject_flags", "daily", "daily_days", "daily_visits", "imported", "imports"}
    for table in parsed["single"]:
        assert sorted(map(tuple, parsed["cluster"][table])) == sorted(map(tuple, parsed["single"][table])), table


def test_cluster_schema_is_replicated_and_sharded_by_visitor() -> None:
    sql = (sql_dir() / "cluster" / "001_schema.sql").read_text()
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/spii/events_local', '{replica}')" in sql
    assert re.search(r"Distributed\('\{cluster\}', spii, events_local, cityHash64\(client_id, visitor_id\)\)", sql)
    statements = cluster_statements(sql, "prod")
    assert all("ON CLUSTER 'prod'" in s for s in statements)
    with pytest.raises(ValueError):
        cluster_statements(sql, "x'; DROP TABLE y; --")
