"""Data-subject rights through the running service (real `spii serve`, real embedded ClickHouse):
a subject's events across three key epochs are exported, restricted, erased; a destroyed key
cannot be searched or disclosed; objections drop new events at ingest; everything is audited."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.privacy.keyring import KeyringStore
from collector.privacy.masterkey import MasterKey
from tests.e2e.harness import SPII, Collector

SUBJECT, NEIGHBOUR = "203.0.113.7", "203.0.113.6"  # neighbours: one bit apart
SITE = "shop.example"


def _prepare_keys(collector: Collector, now: datetime) -> None:
    """Epochs from three days ago on, so backdated events land in their own day's epoch."""
    master = MasterKey.load(collector.env["SPII_MASTER_KEY"], None, collector.data_dir / "unused.key")
    collector.data_dir.mkdir(parents=True, exist_ok=True)
    KeyringStore(collector.data_dir / "keyring.json", master).rotate(10, now=now - timedelta(days=3))


def _send(collector: Collector, admin: str, ip: str, when: datetime, path: str, **extra: str) -> tuple[int, dict]:
    status, headers, _ = collector.send(
        {"n": "pageview", "u": f"https://{SITE}{path}", "d": SITE, "ts": when.isoformat(), **extra},
        {"X-Forwarded-For": ip, "Authorization": f"Bearer {admin}"},
    )
    return status, headers


def _cli(collector: Collector, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([*SPII, *args, "--server", f"http://127.0.0.1:{collector.port}"], env=collector.env,
                         capture_output=True, text=True, timeout=120)
    assert (out.returncode == 0) == ok, out.stderr
    return out


def _aggregate(collector: Collector, admin: str) -> dict:
    status, body = collector.get_json(f"/api/v1/stats/aggregate?site_id={SITE}&period=7d&metrics=visitors,pageviews", admin)
    assert status == 200, body
    return {k: v["value"] for k, v in body["results"].items()}


def _post(collector: Collector, path: str, body: dict, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    status, _, raw = collector.request("POST", path, json.dumps(body), headers)
    return status, json.loads(raw)


def test_subject_rights_across_three_epochs(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_SUBJECT_FLAGS_SECONDS="0.5")
    _prepare_keys(collector, now)
    collector.add_client("shop", SITE, k="5", perturb="off")  # exact counts: restriction moves 18 to 15
    collector.start()
    admin = collector.admin_token()
    days = [now - timedelta(days=2), now - timedelta(days=1), now - timedelta(minutes=5)]
    try:
        for day in days:
            for page in ("/", "/basket"):
                assert _send(collector, admin, SUBJECT, day, page)[0] == 202
                assert _send(collector, admin, NEIGHBOUR, day, page)[0] == 202
        for n in range(12):  # enough other visitors that the reports are not suppressed
            assert _send(collector, admin, f"198.51.100.{n + 1}", days[2], "/")[0] == 202
        collector.wait_shipped(16, admin, SITE)  # today's: the two subjects' 2 + 2 and 12 others
        before = _aggregate(collector, admin)
        assert before == {"visitors": 18, "pageviews": 24}  # visitor ids are per epoch: 3 days = 3 visitors

        # --- access / portability: three epochs, only the subject's rows
        first, last = (now - timedelta(days=3)).date().isoformat(), now.date().isoformat()
        export = tmp_path / "export.jsonl"
        out = _cli(collector, "subject", "export", "--client", "shop", "--ip", SUBJECT, "--from", first, "--to", last,
                   "--out", str(export), "--reason", "ticket 42")
        header, *events = [json.loads(line) for line in export.read_text().splitlines()]
        assert header["format"] == "spii-subject-export/1" and header["events"] == 6
        assert len({e["key_id"] for e in events}) == 3 and header["epochs_unsearchable"] == []
        assert {e["path"] for e in events} == {"/", "/basket"}
        assert oct(export.stat().st_mode)[-3:] == "600"
        assert "exported 6 event(s)" in out.stderr
        neighbour = _cli(collector, "subject", "export", "--client", "shop", "--ip", NEIGHBOUR, "--from", first).stdout
        neighbour_events = [json.loads(line) for line in neighbour.splitlines()[1:]]
        assert len(neighbour_events) == 6
        assert {e["ip_token"] for e in events}.isdisjoint(e["ip_token"] for e in neighbour_events)

        # --- restriction: every report leaves the subject out, until lifted
        _cli(collector, "subject", "restrict", "--client", "shop", "--ip", SUBJECT, "--from", first)
        restricted = _aggregate(collector, admin)
        assert restricted == {"visitors": 15, "pageviews": 18}
        status, pages = collector.get_json(f"/api/v1/stats/breakdown?site_id={SITE}&period=7d&property=event:page&metrics=pageviews", admin)
        assert status == 200 and sum(r["pageviews"] for r in pages["results"]) <= 18
        _cli(collector, "subject", "unrestrict", "--client", "shop", "--ip", SUBJECT, "--from", first)
        assert _aggregate(collector, admin) == before

        # --- lawful disclosure: admin token + reason, while the key lives
        today_row = next(e for e in events if e["key_id"] == max(e["key_id"] for e in events))
        out = _cli(collector, "disclose", "--client", "shop", "--token", today_row["ip_token"], "--key-id", today_row["key_id"],
                   "--reason", "court order 2026/117")
        assert out.stdout.strip() == SUBJECT
        request = {"client": "shop", "token": today_row["ip_token"], "key_id": today_row["key_id"], "reason": ""}
        assert _post(collector, "/api/v1/admin/disclose", request, admin)[0] == 400
        assert _post(collector, "/api/v1/admin/disclose", {**request, "reason": "x"}, None)[0] == 401
        analyst = collector.cli("clients", "token", "shop")["token"]
        assert _post(collector, "/api/v1/admin/disclose", {**request, "reason": "x"}, analyst)[0] == 401
        assert _post(collector, "/api/v1/admin/disclose", {**request, "token": "2001:db8::1", "reason": "x"}, admin)[0] == 404

        # --- a destroyed key: its epoch can be neither searched nor disclosed
        oldest = min(events, key=lambda e: e["key_id"])
        collector.cli("keys", "destroy", "--before", (now - timedelta(days=1)).date().isoformat())
        refused = _cli(collector, "disclose", "--client", "shop", "--token", oldest["ip_token"], "--key-id", oldest["key_id"],
                       "--reason", "court order", ok=False)
        assert "destroyed" in refused.stderr and "410" in refused.stderr
        out = _cli(collector, "subject", "export", "--client", "shop", "--ip", SUBJECT, "--from", first, "--out", str(export))
        header = json.loads(export.read_text().splitlines()[0])
        assert oldest["key_id"] in header["epochs_unsearchable"] and header["events"] == 4
        assert "could not be searched because their keys are destroyed" in out.stderr

        # --- erasure (idempotent), then objection at ingest; the neighbour keeps everything
        out = _cli(collector, "subject", "erase", "--client", "shop", "--ip", SUBJECT, "--from", first, "--json")
        assert json.loads(out.stdout)["erased"] == 4
        assert json.loads(_cli(collector, "subject", "erase", "--client", "shop", "--ip", SUBJECT, "--json").stdout)["erased"] == 0
        status, headers = _send(collector, admin, SUBJECT, now, "/again")
        assert (status, headers.get("x-spii-dropped")) == (202, "objected")
        assert _send(collector, admin, NEIGHBOUR, now, "/again")[0] == 202
        status, live = _post(collector, "/api/v1/admin/subject/export", {"client": "shop", "ip": NEIGHBOUR}, admin)
        assert status == 200 and len(live["events"]) >= 4  # its destroyed epoch is unsearchable, not gone

        # --- the audit log: every request, no IP or token in clear, chain intact
        audit = (collector.data_dir / "audit.log").read_text()
        actions = [json.loads(line)["action"] for line in audit.splitlines()]
        for action in ("subject.export", "subject.restrict", "subject.unrestrict", "disclose", "disclose.refused", "subject.erase"):
            assert action in actions
        assert SUBJECT not in audit and today_row["ip_token"] not in audit
        assert collector.cli("audit", "verify", "--json")["ok"]
    finally:
        collector.stop()

    # --- retention: the TTL is on the table and every row carries its client's retention
    ddl = collector.query("SELECT create_table_query AS q FROM system.tables WHERE database = 'spii' AND name = 'events'")[0]["q"]
    assert "TTL" in ddl and "retention_days" in ddl
    rows = collector.query("SELECT count() AS n, countIf(retention_days = 395) AS with_ttl FROM spii.events")[0]
    # 24 - the subject's 4 searchable rows + the neighbour's new one (the subject's 2 rows under
    # the destroyed key stay: they are anonymous now)
    assert rows["n"] == rows["with_ttl"] and int(rows["n"]) == 24 - 4 + 1
    logs = collector.logs()
    assert SUBJECT not in logs and NEIGHBOUR not in logs
