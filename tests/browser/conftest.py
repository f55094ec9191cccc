"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright. Screenshots and failure
pages are kept under artifacts/ (override with SPII_ARTIFACTS)."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("SPII_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))


# module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which the asyncio tests of other modules must not inherit
@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def artifacts(request):
    path = ARTIFACTS / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
