"""Reading access log lines, and which are page views; past epochs' keys made for an import."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from collector.importing.logformat import LineParser, compile_format
from collector.importing.weblog import not_a_page_view
from collector.privacy.keyring import IP, KeyringStore
from collector.privacy.masterkey import MasterKey

COMBINED = '203.0.113.9 - frank [10/Oct/2026:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "https://ref.example/" "UA/1.0"'


def test_combined_common_and_a_custom_log_format():
    line = LineParser().parse(COMBINED)
    assert (line.ip, line.at, line.method, line.target, line.status, line.referrer, line.user_agent) == (
        "203.0.113.9", datetime(2026, 10, 10, 20, 55, 36, tzinfo=UTC), "GET", "/a?b=1", 200, "https://ref.example/", "UA/1.0")
    assert "203.0.113.9" not in repr(line)
    common = LineParser("common").parse('2001:db8::1 - - [01/Jan/2027:00:00:59 +0130] "HEAD / HTTP/1.0" 304 -')
    assert (common.ip, common.at, common.method, common.referrer) == ("2001:db8::1", datetime(2026, 12, 31, 22, 30, 59, tzinfo=UTC), "HEAD", None)
    custom = LineParser('$host $remote_addr [$time_local] "$request" $status "$http_user_agent" $request_time')
    line = custom.parse('shop.example 198.51.100.1 [10/Oct/2026:13:55:36 +0000] "GET /x HTTP/2.0" 200 "UA \\x22q\\x22" 0.004')
    assert (line.host, line.user_agent, line.target) == ("shop.example", 'UA "q"', "/x")
    iso = LineParser('$remote_addr [$time_iso8601] "$request" $status')
    assert iso.parse('198.51.100.1 [2026-10-10T13:55:36+02:00] "GET / HTTP/1.1" 200').at == datetime(2026, 10, 10, 11, 55, 36, tzinfo=UTC)


def test_escaped_quotes_and_bad_lines():
    apache = COMBINED.replace('"UA/1.0"', r'"Mozilla \"quoted\" UA"').replace("/a?b=1", r"/a\"b")
    line = LineParser().parse(apache)
    assert (line.user_agent, line.target) == ('Mozilla "quoted" UA', '/a"b')
    parser = LineParser()
    assert parser.parse("not a log line") == "unreadable"
    assert parser.parse(COMBINED.replace("10/Oct/2026", "32/Oct/2026")) == "bad_time"
    assert parser.parse(COMBINED.replace("13:55:36", "13:55:75")) == "bad_time"
    assert parser.parse(COMBINED.replace('"GET /a?b=1 HTTP/1.1"', '"-"')) == "bad_request"
    with pytest.raises(ValueError, match=r"\$remote_addr"):
        compile_format("$status $request")


@pytest.mark.parametrize(("request_line", "status", "reason"), [
    ("GET / HTTP/1.1", 200, None), ("GET /blog/post HTTP/1.1", 304, None), ("GET /index.html HTTP/1.1", 200, None),
    ("GET /page.php?x=1 HTTP/1.1", 200, None), ("POST /form HTTP/1.1", 200, "not_get"), ("HEAD / HTTP/1.1", 200, "not_get"),
    ("GET /old HTTP/1.1", 301, "redirect"), ("GET /x HTTP/1.1", 404, "error"), ("GET /x HTTP/1.1", 500, "error"),
    ("GET /app.js HTTP/1.1", 200, "asset"), ("GET /img/a.PNG HTTP/1.1", 200, "asset"), ("GET /favicon.ico HTTP/1.1", 200, "asset"),
    ("GET /robots.txt HTTP/1.1", 200, "asset"), ("GET /.well-known/security.txt HTTP/1.1", 200, "asset"),
    ("GET /api/event HTTP/1.1", 200, "asset"), ("GET * HTTP/1.1", 200, "not_a_page"),
])
def test_which_lines_are_page_views(request_line, status, reason):
    line = LineParser().parse(COMBINED.replace("GET /a?b=1 HTTP/1.1", request_line).replace(" 200 ", f" {status} "))
    assert not_a_page_view(line) == reason


def test_an_import_makes_a_past_epochs_key_but_never_over_a_destroyed_one(tmp_path):
    keys = KeyringStore(tmp_path / "keyring.json", MasterKey(os.urandom(32)))
    keys.rotate(2)
    old = datetime.now(UTC) - timedelta(days=20)
    assert keys.load().epoch_at(old) is None
    assert keys.backfill(old) is True
    made = keys.load().epoch_at(old)
    assert made is not None and made.start <= old < made.end and not made.destroyed
    assert keys.backfill(old) is True and len(keys.load().epochs[IP]) == 4  # (none made twice)
    keys.destroy((made.end + timedelta(seconds=1)).date())
    assert keys.backfill(old) is False and keys.load().epoch_at(old).destroyed
