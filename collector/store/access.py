"""SQL that gives one client's analysts read-only ClickHouse access to that client's rows only.

`spii clients sql-access NAME` prints it; an operator runs it on the ClickHouse server as a
user with access management. What it creates, per client:
- a role ``spii_client_<id>`` with SELECT on spii.events minus the pseudonyms that are not
  needed for statistics (``ip_token``: decryptable by the operator; ``cookie_hash``), and on
  the subject flags, so restricted subjects can be left out;
- a row policy on those tables: only rows of this client, and none of a subject whose
  processing is restricted (the same exclusions the stats API applies);
- a settings profile: read-only (``readonly = 2`` CONST: no writes, no DDL), time and memory caps;
- a quota per hour, and a user that has only this role.

SQL access is row-level pseudonymised data: it bypasses the stats API's small-count
suppression. Give it only to analysts covered by the client's processing agreement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from collector.store.clickhouse import EVENTS_TABLE, identifier
from collector.subjects.flags import TABLE as FLAGS_TABLE
from collector.subjects.flags import restricted_exclusions

HIDDEN_COLUMNS = ("ip_token", "cookie_hash")  # pseudonyms no statistic needs


@dataclass(frozen=True)
class AccessSql:
    role: str
    user: str
    row_filter: str  # the row policy's USING expression on spii.events
    statements: list[str]

    def script(self, client_name: str) -> str:
        header = (
            f"-- spii: read-only ClickHouse access for client {client_name!r} (role {self.role}, user {self.user}).\n"
            "-- Row-level pseudonymised data: small counts are NOT suppressed here as in the stats API.\n"
            f"-- Columns {', '.join(HIDDEN_COLUMNS)} are not granted: name columns instead of SELECT *.\n"
        )
        return header + "".join(statement + ";\n" for statement in self.statements)


def row_filter(client_id: str) -> str:
    """This client's rows, minus every subject whose processing is restricted."""
    literal = f"'{identifier(client_id, 'client id')}'"
    return " AND ".join([f"client_id = {literal}", *restricted_exclusions(literal)])


def access_sql(client_id: str, user: str, password: str, cluster: str | None = None) -> AccessSql:
    """The statements for one client; ``password`` is stored only as its SHA-256."""
    role = f"spii_client_{identifier(client_id, 'client id')}"
    identifier(user, "user")
    on = f" ON CLUSTER '{identifier(cluster, 'cluster name')}'" if cluster else ""
    # in a cluster the shards read spii.events_local as the querying user (inter-server secret)
    event_tables = [EVENTS_TABLE, "spii.events_local"] if cluster else [EVENTS_TABLE]
    digest = hashlib.sha256(password.encode()).hexdigest()
    rows = row_filter(client_id)
    statements = [f"CREATE ROLE IF NOT EXISTS {role}{on}"]
    for table in event_tables:
        statements += [f"GRANT{on} SELECT ON {table} TO {role}", f"REVOKE{on} SELECT({', '.join(HIDDEN_COLUMNS)}) ON {table} FROM {role}"]
    statements += [
        f"GRANT{on} SELECT ON {FLAGS_TABLE} TO {role}",
        f"CREATE ROW POLICY OR REPLACE {role}_events ON {', '.join(event_tables)}{on} FOR SELECT USING {rows} TO {role}",
        f"CREATE ROW POLICY OR REPLACE {role}_flags ON {FLAGS_TABLE}{on} FOR SELECT USING client_id = '{client_id}' TO {role}",
        f"CREATE SETTINGS PROFILE OR REPLACE {role}_profile{on} SETTINGS readonly = 2 CONST, max_execution_time = 60 MAX 600, "
        f"max_memory_usage = 4000000000 MAX 8000000000, max_result_rows = 1000000, result_overflow_mode = 'throw' TO {role}",
        f"CREATE QUOTA OR REPLACE {role}_quota{on} FOR INTERVAL 1 hour MAX queries = 1000, read_rows = 10000000000 TO {role}",
        f"CREATE USER OR REPLACE {user}{on} IDENTIFIED WITH sha256_hash BY '{digest}' DEFAULT ROLE {role} DEFAULT DATABASE spii",
        f"GRANT{on} {role} TO {user}",
    ]
    return AccessSql(role=role, user=user, row_filter=rows, statements=statements)

