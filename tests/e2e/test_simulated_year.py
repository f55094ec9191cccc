"""One collector through 406 simulated days under load (on 158 of them), its wall clock moved by Debian's
libfaketime (monotonic clock untouched, so timers and timeouts run in real time): keys rotate
with no 503 at any point, keys past the longest retention + grace are destroyed on schedule and
their tokens become undecryptable, rows past retention_days leave the reports, restriction and
objection flags expire, and every event answered 202 is stored exactly once.

The clock moves forward from today: the embedded ClickHouse reads the real clock (libfaketime
does not reach it), so it sees every row as recent and its TTL removes none; what the test
checks is what the collector decides by its own clock (reports, keys, flags)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Collector, eventually

LIBFAKETIME = next((p for p in Path("/usr/lib").glob("*-linux-gnu/faketime/libfaketimeMT.so.1")), Path("/nonexistent"))
DAY = 86400
DAYS = 406
# The days the clock stops on and visitors come: every day around the checks (the first seven
# weeks, the last six), every fifth day between (the keeper keeps seven days of keys ahead, so a
# jump of five needs no key it has not made). Every day took 0.84 s each: 340 s of the suite.
VISITED = sorted({*range(50), *range(50, 360, 5), *range(360, DAYS)})
LONG, SHORT = "long.example", "short.example"
LONG_RETENTION, SHORT_RETENTION, GRACE = 365, 30, 7
VISITORS = ["198.51.100.1", "198.51.100.2"]  # with the two subjects: >= k = 5 visitors in any report of a few days
RESTRICTED, OBJECTING = "203.0.113.50", "203.0.113.60"

pytestmark = pytest.mark.skipif(not LIBFAKETIME.exists(), reason="Debian package faketime not installed")


class SimulatedClock:
    """The collector's wall clock: real time + an offset written to FAKETIME_TIMESTAMP_FILE
    (re-read on every call: FAKETIME_NO_CACHE)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.set_day(0)

    def set_day(self, day: int) -> None:
        self.offset = day * DAY
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"+{self.offset}\n")
        tmp.replace(self.path)  # a reader never sees a half-written file

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)


def test_a_year_and_more_unattended(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    clock = SimulatedClock(tmp_path / "faketime")
    collector = Collector(
        data,
        LD_PRELOAD=str(LIBFAKETIME), FAKETIME_TIMESTAMP_FILE=str(clock.path), FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1",
        SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_KEYS_CHECK_SECONDS="0.2", SPII_KEYS_PRUNE_HOURS="0.0001",
        SPII_KEY_GRACE_DAYS=str(GRACE), SPII_SUBJECT_FLAGS_SECONDS="0.3", SPII_SPOOL_SEGMENT_SECONDS="0.2",
    )
    collector.add_client("long", LONG, retention_days=str(LONG_RETENTION), k="5", perturb="off")  # exact counts
    collector.add_client("short", SHORT, retention_days=str(SHORT_RETENTION), k="5", perturb="off")
    collector.start()
    admin = collector.admin_token()
    auth = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}

    accepted: dict[int, tuple[str, datetime]] = {}  # seq -> (site, simulated time it was sent)
    dropped: dict[int, str] = {}
    refused: list[tuple[int, int]] = []  # (day, status) of every answer that was not a 202
    seq = 0

    def send(day: int, site: str, ip: str) -> None:
        nonlocal seq
        seq += 1
        sent_at = clock.now()
        status, headers, _ = collector.send({"n": "pageview", "u": f"https://{site}/d/{day % 7}", "d": site, "p": {"seq": str(seq)}},
                                            {"X-Forwarded-For": ip})
        if status != 202:
            refused.append((day, status))
        elif "x-spii-dropped" in headers:
            dropped[seq] = headers["x-spii-dropped"]
        else:
            accepted[seq] = (site, sent_at)

    def post(path: str, body: dict) -> tuple[int, dict]:
        status, _, raw = collector.request("POST", path, json.dumps(body), auth)
        return status, json.loads(raw)

    def pageviews_in_reports(site: str) -> int | None:
        today = clock.now().date()
        status, body = collector.get_json(f"/api/v1/stats/aggregate?site_id={site}&period=custom"
                                          f"&date={today - timedelta(days=3 * 366 - 1)},{today}&metrics=pageviews", admin)
        assert status == 200, body
        return body["results"]["pageviews"]["value"]

    def expected_in_reports(site: str, retention: int, exclude: set[int] = frozenset()) -> int:
        cutoff = clock.now() - timedelta(days=retention)
        return sum(1 for n, (s, at) in accepted.items() if s == site and at >= cutoff and n not in exclude)

    def flags() -> dict:
        status, body = collector.get_json("/api/v1/admin/flags", admin)
        assert status == 200
        return body["clients"]

    def keyring_epochs() -> list[dict]:
        return [e for e in json.loads((data / "keyring.json").read_text())["epochs"] if e["purpose"] == "ip"]

    restricted_seqs: set[int] = set()
    early_token: dict | None = None
    retention_checks = key_checks = 0
    try:
        for day in VISITED:
            clock.set_day(day)
            for ip in VISITORS:
                send(day, LONG, ip)
                send(day, SHORT, ip)
            send(day, SHORT, RESTRICTED)
            if 5 <= day <= 12:
                restricted_seqs.add(seq)  # the restriction covers the epochs whose keys exist on day 5
            send(day, LONG, OBJECTING)
            if 6 <= day <= 12:
                assert dropped.get(seq) == "objected", day  # epochs covered by the objection
            elif day > 12:
                assert seq in accepted, day  # later epochs did not exist when the objection was made

            if day == 3:  # a token of day 0, and proof that it can be disclosed while its key lives
                eventually(lambda: pageviews_in_reports(SHORT) == expected_in_reports(SHORT, SHORT_RETENTION))
                status, export = post("/api/v1/admin/subject/export", {"client": "short", "ip": RESTRICTED, "reason": "sim"})
                assert status == 200 and len(export["events"]) == 4, export
                early_token = {"client": "short", "token": export["events"][0]["ip_token"], "key_id": export["events"][0]["key_id"],
                               "reason": "sim: lawful request 1"}
                status, disclosed = post("/api/v1/admin/disclose", early_token)
                assert status == 200 and disclosed["ip"] == RESTRICTED
            if day == 5:
                time.sleep(0.5)  # the keeper's timer (0.2 s) has made today's 7 epochs ahead
                status, body = post("/api/v1/admin/subject/restrict", {"client": "short", "ip": RESTRICTED, "from": clock.now().date().isoformat()})
                assert status == 200 and body["restricted_epochs"] == 8, body  # today + 7 ahead
                status, body = post("/api/v1/admin/subject/object", {"client": "long", "ip": OBJECTING})
                assert status == 200 and body["objection_epochs"] == 8, body
                time.sleep(0.5)  # every node reloads flags within SPII_SUBJECT_FLAGS_SECONDS
            if day == 20:
                active = flags()
                assert active[collector_id(collector, "short")]["restrict"] == 8
                assert collector_id(collector, "long") not in active  # objections end with their epochs
            if day == 5 + 8 + SHORT_RETENTION + 1:
                assert flags() == {}  # restrictions end once the rows they hid are past retention

            if day in (10, 45, 200, 380, DAYS - 1):  # rows past retention leave the reports
                for site, retention in ((SHORT, SHORT_RETENTION), (LONG, LONG_RETENTION)):
                    want = expected_in_reports(site, retention, restricted_seqs if site == SHORT else set())
                    got = eventually(lambda: pageviews_in_reports(site) == want or pageviews_in_reports(site))
                    assert got is True, (day, site, got, want)
                retention_checks += 1

            if day in (370, 380, 390, DAYS - 1):  # keys past longest retention + grace are destroyed on schedule
                def destroyed_as_scheduled() -> bool:
                    cutoff = (clock.now() - timedelta(days=LONG_RETENTION + GRACE)).date().isoformat()
                    epochs = keyring_epochs()
                    due = {e["key_id"] for e in epochs if e["end"][:10] <= cutoff}
                    gone = {e["key_id"] for e in epochs if "destroyed_at" in e}
                    return gone == due
                assert eventually(destroyed_as_scheduled, 5), day
                key_checks += 1
        assert early_token is not None
        status, refusal = post("/api/v1/admin/disclose", early_token)
        assert status == 410 and refusal["details"][0]["field"] == "key_id", refusal  # crypto-shredded
        destroyed = sum(1 for e in keyring_epochs() if "destroyed_at" in e)
        assert destroyed >= DAYS - LONG_RETENTION - GRACE - 2

        def keys_ahead() -> int:  # the keeper's next check (every 0.2 s, in a worker thread) may still be due after the last day
            live = [e for e in keyring_epochs() if "destroyed_at" not in e]
            return sum(1 for e in live if e["start"] > clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"))

        assert eventually(lambda: (ahead := keys_ahead()) >= 7 or ahead, 5) is True  # still keys ahead
    finally:
        code = collector.stop()
    assert code == 0
    assert not refused, f"refused: {refused[:10]}; " + "\n".join(line for line in collector.logs().splitlines() if '"level":"error"' in line)[-3000:]
    rows = collector.query("SELECT props['seq'] AS seq, count() AS n FROM spii.events GROUP BY seq")
    stored = {int(r["seq"]): r["n"] for r in rows}
    assert set(stored) == set(accepted), (len(stored), len(accepted))
    assert set(stored.values()) == {1}, "an event was stored twice"
    assert not set(stored) & set(dropped)
    logs = collector.logs()
    assert RESTRICTED not in logs and OBJECTING not in logs
    print(f"simulated days: {DAYS}, visited {len(VISITED)}; events sent: {seq}, accepted: {len(accepted)}, stored: {len(stored)}, "
          f"dropped on purpose (objected): {len(dropped)}, refused: {len(refused)}; keys destroyed: {destroyed}; "
          f"retention checks: {retention_checks}, key-schedule checks: {key_checks}")


def collector_id(collector: Collector, name: str) -> str:
    clients = json.loads((collector.data_dir / "clients.json").read_text())["clients"]
    return next(c["client_id"] for c in clients if c["name"] == name)
