"""Every HTTP error is JSON in the {error, details} shape, from one middleware; a 500 carries a
request id and logs it with the exception's type only."""

import logging

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from collector.http.errors import json_errors
from collector.ingest.payload import EventPayload
from collector.ingest.pipeline import RequestFacts
from collector.metrics import Metrics
from collector.privacy.anonymise import RawVisit
from collector.subjects.pseudonyms import Subject

SECRET = "203.0.113.99"


async def test_404_405_413_and_500_are_json(caplog):
    metrics = Metrics()
    app = web.Application(middlewares=[json_errors(metrics)], client_max_size=1024)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError(f"failed for {SECRET}")

    async def upload(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app.router.add_get("/boom", boom)
    app.router.add_post("/upload", upload)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    caplog.set_level(logging.ERROR, logger="spii.http")
    try:
        async with aiohttp.ClientSession() as http:
            answers = {}
            for method, path, body in [("GET", f"/nothing?ip={SECRET}", None), ("PUT", "/boom", None), ("POST", "/upload", b"x" * 5000),
                                       ("GET", "/boom", None)]:
                async with http.request(method, server.make_url(path), data=body) as resp:
                    answers[resp.status] = (await resp.json(), resp.headers)
    finally:
        await server.close()
    assert sorted(answers) == [404, 405, 413, 500]
    for status, (body, _) in answers.items():
        assert body["error"] and body["details"][0]["field"] and body["details"][0]["problem"], status
        assert SECRET not in str(body)
    assert "GET" in answers[405][1]["Allow"]
    request_id = answers[500][0]["request_id"]
    assert request_id in answers[500][0]["details"][0]["problem"]
    (record,) = [r for r in caplog.records if r.name == "spii.http"]
    assert record.fields == {"request_id": request_id, "route": "/boom", "error": "RuntimeError"}
    assert SECRET not in record.getMessage()
    assert {s.labels["status"] for s in metrics.http_errors.collect()[0].samples if s.name.endswith("_total")} == {"404", "405", "413", "500"}


def test_reprs_of_raw_values_show_none_of_them():
    ua = "Mozilla/5.0 SecretBrowser/1.0"
    objects = [
        RawVisit(ip=SECRET, user_agent=ua, url="https://a.example/x?email=me@x.example", referrer="https://r.example/?q=me",
                 postcode="SW1A 1AA", cookie_id="cookie-1234567"),
        RequestFacts(ip=SECRET, user_agent=ua, origin="https://a.example", refuses_tracking=False),
        Subject("c_1", ip=SECRET),
        Subject("c_1", cookie_id="cookie-1234567"),
        EventPayload.model_validate({"n": "pageview", "u": "https://a.example/x?email=me@x.example", "d": "a.example",
                                     "pc": "SW1A 1AA", "cid": "cookie-1234567", "order": "order-77", "r": "https://r.example/"}),
    ]
    for obj in objects:
        text = repr(obj) + str(obj)
        for raw in (SECRET, ua, "me@x.example", "SW1A", "cookie-1234567", "order-77", "r.example"):
            assert raw not in text, (type(obj).__name__, raw)
