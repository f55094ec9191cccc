"""Acquisition channels (collector/ingest/channels.py) on real embedded ClickHouse: each rule on
planted visits, the column filled at insert and, for rows stored before it existed, from the same
expression when read."""

from __future__ import annotations

import orjson
import pytest

from collector.ingest.channels import CHANNEL_SQL
from collector.store.clickhouse import Store, split_statements, sql_dir

CASES = [  # (referrer_source, utm_source, utm_medium, utm_campaign) -> channel
    (("Google", "", "", ""), "Organic Search"),
    (("Google", "google", "cpc", "winter"), "Paid Search"),
    (("Bing", "adwords", "", ""), "Paid Search"),
    (("Facebook", "", "", ""), "Organic Social"),
    (("Facebook", "facebook", "paid_social", ""), "Paid Social"),
    (("Hacker News", "", "", ""), "Organic Social"),
    (("YouTube", "", "", ""), "Organic Video"),
    (("newsletter", "newsletter", "email", "november"), "Email"),
    (("Gmail", "", "", ""), "Email"),
    (("", "", "", ""), "Direct"),
    (("blog.example", "", "", ""), "Referral"),
    (("", "partner", "affiliate", ""), "Affiliates"),
    (("", "", "display", ""), "Display"),
    (("Amazon", "", "", ""), "Organic Shopping"),
    (("", "", "cpc", "summer shopping"), "Paid Shopping"),
    (("", "", "", "q1 cross-network"), "Cross-network"),
    (("ChatGPT", "", "", ""), "AI Assistants"),
    (("", "sms", "", ""), "SMS"),
    (("", "", "audio", ""), "Audio"),
    (("", "app", "push", ""), "Mobile Push Notifications"),
    (("", "", "ppc", ""), "Paid Other"),
]


def _rows() -> bytes:
    out = []
    for n, ((source, utm_source, utm_medium, utm_campaign), _) in enumerate(CASES):
        out.append(orjson.dumps({"client_id": "c_channels0000", "ts": "2026-11-20 10:00:00.000", "kind": "pageview", "name": "pageview",
                                 "host": "c.example", "path": f"/{n}", "visitor_id": n + 1, "session_id": n + 1, "visit_event": 1,
                                 "visit_pageview": 1, "referrer_source": source, "utm_source": utm_source, "utm_medium": utm_medium,
                                 "utm_campaign": utm_campaign, "retention_days": 395}) + b"\n")
    return b"".join(out)


@pytest.fixture
def store(tmp_path):
    store = Store(f"chdb://{tmp_path}/clickhouse")
    store.migrate()
    yield store
    store.close()


def _channels(store: Store) -> list[str]:
    return [row[0] for row in store.query("SELECT channel FROM spii.events ORDER BY toUInt32(substring(path, 2))")]


def test_each_rule_on_planted_visits(store):
    store.insert_segment(_rows(), "channels")
    assert _channels(store) == [channel for _, channel in CASES]


def test_rows_stored_before_the_column_get_theirs_when_read(store):
    store.command("ALTER TABLE spii.events DROP COLUMN channel")
    store.insert_segment(_rows(), "before")
    (statement,) = split_statements((sql_dir() / "010_channel.sql").read_text())
    assert CHANNEL_SQL in statement
    store.command(statement)
    assert _channels(store) == [channel for _, channel in CASES]
