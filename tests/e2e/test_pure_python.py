"""The compiled hot path and the same modules as plain Python (SPII_PURE_PYTHON=1) are one
program: the same events sent to a collector of each give the same answers and the same rows.
(Every other test runs the compiled build, which is what `pip install` gives users.)"""

import json


from collector.build_info import HOT_PATH
from tests.e2e.harness import Collector

PAGE = "https://shop.example/products/shoes?utm_source=news&utm_medium=email&utm_campaign=w1&email=a@b.c"
EVENTS = [
    {"n": "pageview", "u": PAGE, "d": "shop.example", "r": "https://www.google.com/search?q=shoes"},
    {"n": "Signup", "u": "https://shop.example/join", "d": "shop.example", "p": {"plan": "pro", "seats": 3}},
    {"n": "transaction", "u": "https://shop.example/checkout", "d": "shop.example", "order": "o-1",
     "revenue": {"amount": "19.99", "currency": "gbp"}, "pc": "SW1A 1AA", "cc": "GB"},
    {"n": "contact", "u": "https://shop.example/help", "d": "shop.example", "channel": "email"},
    {"n": "pageview", "u": "https://shop.example/#/x", "d": "shop.example", "h": 1, "pc": "90210", "cc": "us"},
]
REFUSED = [
    ({"n": "pageview", "u": "ftp://shop.example/", "d": "shop.example"}, {}),  # 400 naming u
    ({"n": "pageview", "u": PAGE, "d": "other.example"}, {}),  # dropped: unknown client
    ({"n": "pageview", "u": PAGE, "d": "shop.example"}, {"User-Agent": "curl/8.0"}),  # dropped: bot
]
COLUMNS = ("kind", "name", "host", "path", "query", "utm_source", "utm_medium", "utm_campaign", "referrer_host",
           "referrer_source", "browser", "os", "device", "postcode_area", "country", "props", "revenue", "currency",
           "length(order_id) AS order_ref", "contact_channel", "visit_event", "visit_pageview")  # (an order ref is keyed per client)


def _run(tmp_path, name: str, **env: str) -> tuple[list, list[dict], str]:
    collector = Collector(tmp_path / name, **env)
    (tmp_path / name).mkdir()
    collector.add_client("shop", "shop.example", perturb="off")
    collector.start()
    try:
        answers = []
        for n, event in enumerate(EVENTS):
            headers = {"X-Forwarded-For": f"203.0.113.{n}"}
            status, hdrs, body = collector.send(event, headers)
            answers.append((status, hdrs.get("x-spii-dropped"), json.loads(body)))
        for event, headers in REFUSED:
            status, hdrs, body = collector.send(event, headers)
            answers.append((status, hdrs.get("x-spii-dropped"), json.loads(body)))
        status, _, body = collector.request("POST", "/api/events", json.dumps(EVENTS[:2]), {"Content-Type": "application/json"})
        answers.append((status, None, json.loads(body)))
    finally:
        collector.stop()
    # (by what the events are, not when: two sent within one millisecond would otherwise sort by kind)
    rows = collector.query(f"SELECT {', '.join(COLUMNS)} FROM spii.events ORDER BY visit_event, kind, name, path, ts")
    return answers, rows, collector.logs()


def test_pure_python_and_compiled_give_the_same_answers_and_rows(tmp_path):
    compiled = _run(tmp_path, "compiled")
    pure = _run(tmp_path, "pure", SPII_PURE_PYTHON="1")
    assert pure[0] == compiled[0]
    assert pure[1] == compiled[1] and len(compiled[1]) == len(EVENTS) + 2
    assert [a[0] for a in compiled[0]] == [202] * len(EVENTS) + [400, 202, 202, 202]
    hot = [json.loads(line) for line in pure[2].splitlines() if '"hot path"' in line]
    assert hot and hot[0]["pure"] == list(HOT_PATH)
