"""`spii clients sql-access`: the SQL for a client's read-only ClickHouse user.

chDB (embedded ClickHouse) keeps no writable access storage, so CREATE ROLE/USER/ROW POLICY
cannot run in it (it answers ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND). What it can check is
tested here: every statement parses (EXPLAIN AST); the row policy's filter, applied to real
rows of two clients with restricted subjects, leaves exactly this client's unrestricted rows;
the columns held back exist. Enforcement itself needs a ClickHouse server (README)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest

from collector.store.access import HIDDEN_COLUMNS, access_sql
from tests.e2e.harness import SPII, run_json

HELPER = r"""
import json, sys, tempfile
from collector.store.access import access_sql
from collector.store.clickhouse import Store
store = Store("chdb://" + tempfile.mkdtemp())
store.migrate()
rows = [  # (client, key_id, ip_token, cookie_hash, path)
    ("c_a", "k1", "::1", 0, "/a-visitor-1"), ("c_a", "k1", "::2", 0, "/a-visitor-2"),
    ("c_a", "k1", "::3", 0, "/a-restricted-ip"), ("c_a", "k2", "::3", 0, "/a-same-ip-other-epoch"),
    ("c_a", "", "::", 77, "/a-restricted-cookie"), ("c_a", "", "::", 78, "/a-other-cookie"),
    ("c_b", "k1", "::1", 0, "/b-1"), ("c_b", "k1", "::3", 0, "/b-same-token-other-client"),
]
for client, key, token, cookie, path in rows:
    store.command("INSERT INTO spii.events (client_id, ts, retention_days, key_id, ip_token, cookie_hash, path) "
                  "VALUES ({c:String}, now64(3), 30, {k:String}, toIPv6({t:String}), {h:UInt64}, {p:String})",
                  {"c": client, "k": key, "t": token, "h": cookie, "p": path})
store.command("INSERT INTO spii.subject_flags (client_id, flag, key_id, ip_token, cookie_hash, expires_at) VALUES "
              "('c_a', 'restrict', 'k1', toIPv6('::3'), 0, now() + 3600), ('c_a', 'restrict', '', toIPv6('::'), 77, now() + 3600), "
              "('c_a', 'restrict', 'k1', toIPv6('::2'), 0, now() - 3600), ('c_b', 'restrict', 'k1', toIPv6('::1'), 0, now() + 3600)")
out = {"ast": [], "visible": {}}
for cluster in (None, "spii_cluster"):
    sql = access_sql("c_a", "spii_analyst_a", "pw", cluster=cluster)
    out["ast"] += [store.query("EXPLAIN AST " + s)[0][0] for s in sql.statements]
for client in ("c_a", "c_b"):
    where = access_sql(client, "u", "pw").row_filter
    out["visible"][client] = [r[0] for r in store.query(f"SELECT path FROM spii.events WHERE {where} ORDER BY path")]
out["columns"] = [r[0] for r in store.query("SELECT name FROM system.columns WHERE database = 'spii' AND table = 'events'")]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def checked() -> dict:
    return run_json(HELPER)


def test_every_statement_parses_in_embedded_clickhouse(checked: dict) -> None:
    assert len(checked["ast"]) == len(access_sql("c_a", "u", "pw").statements) + len(access_sql("c_a", "u", "pw", "c").statements)
    kinds = {ast.split(" (")[0] for ast in checked["ast"]}
    assert {"CreateRoleQuery", "GrantQuery", "CreateSettingsProfileQuery", "CreateQuotaQuery", "CreateUserQuery"} <= kinds


def test_row_policy_keeps_only_this_clients_unrestricted_rows(checked: dict) -> None:
    # ::3 under k1 and cookie 77 are restricted for c_a; the expired flag on ::2 no longer counts;
    # the same IP under another epoch key is another pseudonym; c_b's flag does not touch c_a.
    assert checked["visible"]["c_a"] == ["/a-other-cookie", "/a-same-ip-other-epoch", "/a-visitor-1", "/a-visitor-2"]
    assert checked["visible"]["c_b"] == ["/b-same-token-other-client"]


def test_held_back_columns_exist_and_are_revoked_on_every_event_table(checked: dict) -> None:
    assert set(HIDDEN_COLUMNS) <= set(checked["columns"])
    statements = access_sql("c_a", "u", "pw", cluster="main").statements
    revokes = [s for s in statements if s.startswith("REVOKE")]
    assert [re.search(r"ON (\S+) FROM", s).group(1) for s in revokes] == ["spii.events", "spii.events_local"]
    assert all("ON CLUSTER 'main'" in s for s in statements)
    assert not any("ON CLUSTER" in s for s in access_sql("c_a", "u", "pw").statements)


def test_names_are_validated_not_quoted_into_sql() -> None:
    for bad in ({"client_id": "c_a'; DROP TABLE spii.events; --"}, {"user": "x y"}, {"cluster": "c' OR 1"}):
        args = {"client_id": "c_a", "user": "u", "password": "pw", **bad}
        with pytest.raises(ValueError):
            access_sql(**args)


def test_cli_prints_sql_on_stdout_and_the_password_once_on_stderr(tmp_path) -> None:
    env = {"SPII_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    added = subprocess.run([*SPII, "clients", "add", "my-shop", "--domain", "shop.example"], env=env, capture_output=True, text=True, timeout=60)
    client_id = json.loads(added.stdout)["client_id"]
    out = subprocess.run([*SPII, "clients", "sql-access", "my-shop"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    password = re.search(r"\(shown once\): (\S+)", out.stderr).group(1)
    assert password not in out.stdout
    assert f"BY '{hashlib.sha256(password.encode()).hexdigest()}'" in out.stdout
    assert "CREATE USER OR REPLACE spii_analyst_my_shop IDENTIFIED" in out.stdout
    assert f"USING client_id = '{client_id}'" in out.stdout
    missing = subprocess.run([*SPII, "clients", "sql-access", "nope"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no client named 'nope'" in missing.stderr
