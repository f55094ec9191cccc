"""A keyring file replaced by a damaged copy under a running collector (tried by hand for issue 36):
it keeps serving on the last good keyring, never overwrites the file, and says so where an
operator looks: /readyz's warnings and the spii_files_unloadable gauge (a restart would refuse
the file). Restoring the file clears both."""

from __future__ import annotations

import json
import os
import time

from tests.e2e.harness import Collector, eventually

SITE = "shop.example"


def _ready(collector: Collector) -> tuple[int, dict]:
    status, _, body = collector.request("GET", "/readyz")
    return status, json.loads(body)


def test_a_damaged_keyring_file_is_reported_and_never_overwritten(tmp_path):
    collector = Collector(tmp_path / "data", SPII_KEYS_CHECK_SECONDS="1")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE)
    collector.start()
    try:
        keyring = tmp_path / "data" / "keyring.json"
        good = keyring.read_bytes()
        damaged = tmp_path / "data" / "keyring.tmp"
        damaged.write_bytes(good[: len(good) // 2])
        os.replace(damaged, keyring)
        assert eventually(lambda: _ready(collector)[1]["warnings"] != [], 10) is True
        status, ready = _ready(collector)
        assert status == 200 and "keyring on disk cannot be loaded" in ready["warnings"][0]  # serving goes on
        assert b"spii_files_unloadable 1.0" in collector.request("GET", "/metrics")[2]
        assert collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE})[0] == 202
        time.sleep(2.5)  # two key checks of the keeper: they fail, and write nothing
        assert keyring.read_bytes() == good[: len(good) // 2]
        damaged.write_bytes(good)
        os.replace(damaged, keyring)
        assert eventually(lambda: _ready(collector)[1]["warnings"] == [], 10) is True
        assert b"spii_files_unloadable 0.0" in collector.request("GET", "/metrics")[2]
        collector.wait_shipped(1, shop["token"], SITE)
    finally:
        collector.stop()
