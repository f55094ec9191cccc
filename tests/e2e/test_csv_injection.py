"""Labels that visitors control cannot attack the analyst's spreadsheet: hostile event names and
UTM values sent by enough visitors to be shown arrive in every CSV spii writes (the export ZIP,
`spii report --format csv`) neutralised, never as a formula (OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io
import subprocess
import urllib.parse
import zipfile

from collector.csv_cells import FORMULA_STARTS
from tests.e2e.harness import SPII, Collector
from tests.test_csv_cells import is_number

SITE = "shop.example"
HOSTILE = ["=2+5", "+2+5", '=HYPERLINK("//evil.example","x")', "@SUM(1+1)", "-not a number", "\tTAB first"]
VISITORS = 6  # each label sent by more than k=5 visitors, so it is shown


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def _assert_safe(cells: list[str], where: str) -> None:
    formulas = [c for c in cells if c.startswith(FORMULA_STARTS) and not is_number(c)]
    assert not formulas, f"{where}: {formulas}"


def test_hostile_labels_are_neutralised_in_every_csv(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE, k="5")
    collector.start()
    try:
        sent = 0
        for index, label in enumerate(HOSTILE):
            for visitor in range(VISITORS):
                ip = {"X-Forwarded-For": f"198.51.{index}.{visitor + 1}"}
                query = urllib.parse.urlencode({"utm_source": label, "utm_campaign": label})
                assert collector.send({"n": "pageview", "u": f"https://{SITE}/landing?{query}", "d": SITE}, ip)[0] == 202
                assert collector.send({"n": label, "u": f"https://{SITE}/landing", "d": SITE}, ip)[0] == 202
                sent += 2
        collector.wait_shipped(sent, shop["token"], SITE)
        status, _, body = collector.request("GET", "/api/v1/stats/export?period=day",
                                            headers={"Authorization": f"Bearer {shop['token']}"})
        assert status == 200
        archive = zipfile.ZipFile(io.BytesIO(body))
        everything: list[str] = []
        for name in archive.namelist():
            if name.endswith(".csv"):
                cells = _cells(archive.read(name).decode())
                _assert_safe(cells, name)
                everything += cells
        for label in HOSTILE:  # each label is there, behind its quote
            assert "'" + label in everything, label
        cli = subprocess.run([*SPII, "report", "shop", "--period", "day", "--format", "csv",
                              "--server", f"http://127.0.0.1:{collector.port}", "--token", shop["token"]],
                             env=collector.env, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        cells = _cells(cli.stdout)
        _assert_safe(cells, "spii report --format csv")
        assert all("'" + label in cells for label in HOSTILE)
    finally:
        collector.stop()
