"""The beacon endpoints against a real `spii serve` subprocess and its embedded ClickHouse."""

import json

from tests.e2e.harness import BROWSER_UA

SITE = "shop.example"


def test_events_of_every_kind_land_pseudonymised(collector):
    client = collector.add_client("shop", SITE, cookies="consent")
    collector.start()
    send = collector.send
    # exactly what Plausible's tracker sends (text/plain, props as a JSON string)
    assert send({"n": "pageview", "u": f"https://{SITE}/products/1?utm_source=news&sid=SECRET", "d": SITE,
                 "r": "https://www.google.com/search?q=x", "p": json.dumps({"plan": "pro"}), "h": 0})[0] == 202
    assert send({"n": "Signup", "u": f"https://{SITE}/signup", "d": SITE, "props": {"tier": 2, "ok": True}, "i": True})[0] == 202
    assert send({"n": "transaction", "u": f"https://{SITE}/checkout", "d": SITE, "revenue": {"amount": "19.99", "currency": "gbp"},
                 "order": "ORD-42", "items": [{"sku": "tea", "quantity": 2, "price": 9.995}], "pc": "SW1A 1AA", "cc": "GB",
                 "cid": "cookie-abcdef-123456"})[0] == 202
    assert send({"n": "fulfilment", "u": f"https://{SITE}/orders", "d": SITE, "order": "ORD-42", "status": "shipped"})[0] == 202
    assert send({"n": "contact", "u": f"https://{SITE}/contact", "d": SITE, "channel": "email"},
                headers={"Content-Type": "application/json"})[0] == 202
    status, _, body = collector.request("POST", "/api/events", "\n".join(json.dumps(e) for e in [
        {"n": "pageview", "u": f"https://{SITE}/batch/1", "d": SITE},
        {"n": "pageview", "u": f"https://{SITE}/batch/2", "d": "stranger.example"},
        {"n": "pageview", "u": "not a url", "d": SITE},
    ]))
    result = json.loads(body)
    assert status == 202 and [r["status"] for r in result["results"]] == ["accepted", "dropped", "invalid"]
    assert result["results"][1]["reason"] == "unknown_client"
    status, headers, body = collector.request("GET", f"/px.gif?d={SITE}", headers={"Referer": f"https://{SITE}/noscript?x=1"})
    assert status == 200 and headers["content-type"] == "image/gif" and body[:6] == b"GIF89a"
    assert collector.stop() == 0

    rows = collector.query("SELECT * FROM spii.events ORDER BY ts")
    by_path = {r["path"]: r for r in rows}
    assert len(rows) == 7
    assert all(r["client_id"] == client["client_id"] for r in rows)
    pv = by_path["/products/1"]
    assert (pv["kind"], pv["utm_source"], pv["query"], pv["referrer_source"], pv["props"]) == ("pageview", "news", "", "Google", {"plan": "pro"})
    assert pv["browser"] == "Chrome" and pv["device"] == "desktop" and pv["key_id"] and pv["ip_token"] not in ("::", "127.0.0.1")
    assert by_path["/signup"]["kind"] == "event" and by_path["/signup"]["name"] == "Signup"
    assert by_path["/signup"]["props"] == {"tier": "2", "ok": "true"}
    tx = by_path["/checkout"]
    assert (tx["kind"], tx["revenue"], tx["currency"], tx["postcode_area"], tx["country"]) == ("transaction", "19.9900", "GBP", "SW1A", "GB")
    assert tx["order_id"] and tx["order_id"] != "ORD-42" and tx["order_id"] == by_path["/orders"]["order_id"]
    assert tx["cookie_hash"] != 0 and tx["visitor_id"] == tx["cookie_hash"]
    assert by_path["/orders"]["fulfilment_status"] == "shipped"
    assert by_path["/contact"]["contact_channel"] == "email"
    assert by_path["/noscript"]["kind"] == "pageview"
    assert all(r["retention_days"] == 395 for r in rows)
    # same IP, same epoch: one token; it is not the IP
    assert len({r["ip_token"] for r in rows if r["kind"] != "fulfilment"}) == 1
    # a fulfilment is an order's news from the shop, not a visitor's: no token, no visitor, no visit
    fulfilment = by_path["/orders"]
    assert (fulfilment["ip_token"], fulfilment["visitor_id"], fulfilment["session_id"], fulfilment["entry_page"]) == ("::", 0, 0, "")


def test_drops_are_counted_and_answered_with_a_reason(collector):
    collector.add_client("shop", SITE)
    collector.start()
    ev = {"n": "pageview", "u": f"https://{SITE}/", "d": SITE}
    assert collector.send(ev, {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"})[1]["x-spii-dropped"] == "bot"
    assert collector.send(ev, {"User-Agent": "Python/3.11 aiohttp/3.9"})[1]["x-spii-dropped"] == "bot"
    assert collector.send({**ev, "d": "other.example"})[1]["x-spii-dropped"] == "unknown_client"
    assert collector.send(ev, {"Origin": "https://evil.example"})[1]["x-spii-dropped"] == "origin_mismatch"
    assert collector.send(ev, {"Origin": "http://localhost:8000"})[1]["x-spii-dropped"] == "origin_mismatch"
    status, headers, _ = collector.send(ev, {"Origin": f"https://www.{SITE}"})
    assert status == 202 and "x-spii-dropped" not in headers and headers["access-control-allow-origin"] == f"https://www.{SITE}"
    status, headers, _ = collector.request("OPTIONS", "/api/event", headers={"Origin": f"https://{SITE}", "Access-Control-Request-Method": "POST"})
    assert status == 204 and headers["access-control-allow-origin"] == f"https://{SITE}"
    _, _, metrics = collector.request("GET", "/metrics")
    text = metrics.decode()
    assert 'spii_events_dropped_total{reason="bot"} 2.0' in text
    assert 'spii_events_dropped_total{reason="unknown_client"} 1.0' in text
    assert 'spii_events_dropped_total{reason="origin_mismatch"} 2.0' in text
    assert 'spii_events_accepted_total{kind="pageview"} 1.0' in text


def test_gpc_and_dnt_store_no_identifier(collector):
    collector.add_client("shop", SITE, cookies="consent")
    collector.start()
    ev = {"n": "pageview", "u": f"https://{SITE}/gpc", "d": SITE, "cid": "cookie-abcdef-123456"}
    assert collector.send(ev, {"Sec-GPC": "1"})[0] == 202
    assert collector.send({**ev, "u": f"https://{SITE}/dnt"}, {"DNT": "1"})[0] == 202
    collector.stop()
    rows = collector.query("SELECT ip_token, visitor_id, cookie_hash, key_id, tracking_refused FROM spii.events")
    assert rows == [{"ip_token": "::", "visitor_id": 0, "cookie_hash": 0, "key_id": "", "tracking_refused": 1}] * 2


def test_every_bad_input_gets_its_status_and_a_json_body(collector):
    collector.add_client("shop", SITE)
    collector.start()
    ok = {"n": "pageview", "u": f"https://{SITE}/", "d": SITE}
    cases = [
        ("/api/event", b"{not json", 400, "body"),
        ("/api/event", b"[1,2]", 400, "body"),
        ("/api/event", b'"just a string"', 400, "body"),
        ("/api/event", json.dumps({"u": ok["u"], "d": SITE}).encode(), 400, "n"),
        ("/api/event", json.dumps({**ok, "u": "javascript:alert(1)"}).encode(), 400, "u"),
        ("/api/event", json.dumps({**ok, "revenue": {"amount": "lots", "currency": "GBP"}}).encode(), 400, "revenue.amount"),
        ("/api/event", json.dumps({**ok, "revenue": {"amount": 1, "currency": "POUNDS"}}).encode(), 400, "revenue.currency"),
        ("/api/event", json.dumps({**ok, "p": "[1,2]"}).encode(), 400, "p"),
        ("/api/event", json.dumps({**ok, "p": {"a": {"nested": 1}}}).encode(), 400, "p"),
        ("/api/event", json.dumps({**ok, "cc": "GBR"}).encode(), 400, "cc"),
        ("/api/event", json.dumps({**ok, "items": [{"sku": "x", "quantity": -1}]}).encode(), 400, "items.0.quantity"),
        ("/api/event", json.dumps({**ok, "u": "https://shop.example/" + "a" * 9000}).encode(), 413, "body"),
        ("/api/events", b"", 400, "body"),
        ("/api/events", b"{bad\n", 400, "line 1"),
        ("/api/events", json.dumps([ok] * 1001).encode(), 413, "body"),
    ]
    for path, body, status, field in cases:
        got, headers, raw = collector.request("POST", path, body, {"Content-Type": "application/json"})
        assert got == status, (body[:80], got, raw[:200])
        answer = json.loads(raw)
        assert answer["error"] and field in [d["field"] for d in answer["details"]], (body[:80], answer)
    # the planted values never come back in an error
    secret = {**ok, "u": "mailto:jane.doe@example.com", "pc": "SW1A 1AA" * 10}
    _, _, raw = collector.send(secret)
    assert b"jane.doe" not in raw and b"SW1A 1AA" not in raw
    assert collector.request("GET", "/healthz")[0] == 200
    spec = json.loads(collector.request("GET", "/openapi.json")[2])
    assert "/api/event" in spec["paths"] and "n" in spec["components"]["schemas"]["EventPayload"]["properties"]


def test_a_body_split_across_tcp_segments_is_read_whole(collector):
    """The body may arrive in pieces (slow links, large props): the handler reads to the end."""
    import socket
    import time

    collector.add_client("shop", SITE)
    collector.start()
    body = json.dumps({"n": "pageview", "u": f"https://{SITE}/split", "d": SITE, "p": {"pad": "x" * 400}}).encode()
    head = (f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER_UA}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", collector.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head + body[:100])
        time.sleep(0.2)
        sock.sendall(body[100:])
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 202"), answer
    assert collector.stop() == 0
    assert collector.query("SELECT count() AS n FROM spii.events WHERE path = '/split'")[0]["n"] == 1
