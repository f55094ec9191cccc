"""The README's and the docs' examples, run exactly as written, so they cannot drift from the code.

A shell block preceded by ``<!-- run -->`` runs to completion in a new bash (as if pasted into a
new shell, with nothing on the PATH but the system's) and must exit 0; each ``<!-- expect: TEXT -->``
after it (before the next run block) must be in what it printed. ``<!-- run: background -->`` starts
a long-running command (``spii serve``) and waits until the collector is ready;
``<!-- run: until "TEXT" -->`` waits until the command prints TEXT, then stops it as Ctrl-C would.
Each page runs in its own empty folder holding the project's ``.venv``, on free ports: the
collector's port through ``SPII_PORT``, and ``8080`` / ``8081`` in the examples' own text replaced
by free ones. Background commands are stopped at the end and must exit cleanly.

A page marked ``<!-- setup: collector -->`` runs as its readers run it, after Getting started:
``spii`` on the PATH, a collector serving in the folder (``spii serve``, behind a trusted proxy
for the test's visitors, e-mail written to ``./outbox``), a site ``mysite`` (domain
``example.com``, ``k`` 5) with its analyst token in ``TOKEN``, and a day of pageviews from 12
visitors (one of them ``203.0.113.7``, the subject of the subject-rights examples).
``<!-- files: NAME ... -->`` puts the files a page's examples read in its folder (``fixture``)."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import eventually, free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/getting-started.md", "docs/keys.md", "docs/events-api.md", "docs/stats-api.md",
         "docs/dashboard.md", "docs/goals-funnels.md", "docs/exports.md", "docs/email.md", "docs/importing.md",
         "docs/subject-rights.md"]
SETUP = "<!-- setup: collector -->"
FILES = re.compile(r"<!-- files: (.*?) -->")
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
BLOCK = re.compile(r"<!-- run(?::\s*(?P<mode>background|until \"(?P<until>[^\"]+)\"))? -->\s*\n```(?P<lang>sh|bash|python)\n(?P<code>.*?)\n```",
                   re.S)
EXPECT = re.compile(r"<!-- expect: (.*?) -->")


@dataclass
class Example:
    code: str
    lang: str
    mode: str | None
    until: str | None
    expects: list[str] = field(default_factory=list)


def examples(text: str) -> list[Example]:
    found = list(BLOCK.finditer(text))
    out = []
    for n, match in enumerate(found):
        end = found[n + 1].start() if n + 1 < len(found) else len(text)
        out.append(Example(match["code"], match["lang"], match["mode"], match["until"], EXPECT.findall(text, match.end(), end)))
    return out


def test_every_page_has_examples_to_run():
    for page in PAGES:
        assert examples((ROOT / page).read_text()), page


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in the shell would
        try:
            return proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    return proc.returncode


def _serve_mysite(folder: Path, env: dict[str, str], port: int) -> subprocess.Popen:
    """What a reader of a ``setup: collector`` page has done before it: ``spii`` on the PATH, a
    collector serving, ``mysite`` registered with its token in ``TOKEN``, a few visitors."""
    env["PATH"] = f"{folder}/.venv/bin:{env['PATH']}"
    log = open(folder / "serve.log", "w")
    proc = subprocess.Popen(["spii", "serve"], cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**env, "SPII_TRUSTED_PROXIES": "127.0.0.1/32", "SPII_EMAIL_DIR": str(folder / "outbox")})
    assert wait_ready(port, proc), (folder / "serve.log").read_text()[-3000:]
    added = subprocess.run(["spii", "clients", "add", "mysite", "--domain", "example.com", "--k", "5", "--json"], cwd=folder,
                           env=env, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    env["TOKEN"] = json.loads(added.stdout)["token"]
    for n in range(1, 13):
        for path in ("/", "/pricing", "/blog/hello"):
            body = json.dumps({"n": "pageview", "u": f"https://example.com{path}", "d": "example.com",
                               "r": "https://www.google.com/"}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/event", data=body, method="POST",
                                             headers={"User-Agent": UA, "X-Forwarded-For": f"203.0.113.{n}"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 202

    def shipped() -> bool | int:  # the day's 36 pageviews in the store (the receiving status counts exactly)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/stats/receiving",
                                         headers={"Authorization": f"Bearer {env['TOKEN']}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            today = json.loads(answer.read())["events_today"]
        return True if today >= 36 else today

    stored = eventually(shipped, timeout=30)
    assert stored is True, f"the setup's 36 pageviews were not all stored within 30 s ({stored} were)"
    return proc


def fixture(folder: Path, name: str) -> None:
    """A file a page's example reads: access logs (combined format, ``.gz`` compressed, hours
    before now, oldest in the highest-numbered file) or a Plausible export."""
    from tests.e2e.test_import_logs import access_line
    from tests.e2e.test_import_plausible import plausible_export

    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".zip"):
        plausible_export(path)
        return
    age = int(re.search(r"\.(\d+)", name + ".0")[1])  # access.log.2.gz is older than access.log.1
    start = datetime.now(UTC) - timedelta(hours=3 * age + 3)
    lines = [access_line(f"192.0.2.{n}", start + timedelta(minutes=n * 5 + step), f"GET {page} HTTP/1.1", referrer="https://duckduckgo.com/")
             for n in range(1, 9) for step, page in enumerate(("/", "/pricing", "/logo.png"))]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_run_as_written(page, tmp_path):
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the project's own install, as the install line made it
    port, demo_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPII_", "VIRTUAL_ENV"))}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", SPII_PORT=str(port), HOME=str(tmp_path))
    background: list[subprocess.Popen] = []
    text = (ROOT / page).read_text()
    try:
        if SETUP in text:
            background.append(_serve_mysite(tmp_path, env, port))
        for names in FILES.findall(text):
            for name in names.split():
                fixture(tmp_path, name)
        for example in examples(text):
            code = example.code.replace("8080", str(port)).replace("8081", str(demo_port))
            if example.mode == "background" or example.until:
                log = open(tmp_path / f"background-{len(background)}.log", "w+")
                proc = subprocess.Popen(["bash", "-c", code], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                background.append(proc)
                if example.until:
                    deadline = time.monotonic() + 300
                    while example.until not in (tmp_path / log.name).read_text() and time.monotonic() < deadline:
                        assert proc.poll() is None, (tmp_path / log.name).read_text()[-3000:]
                        time.sleep(0.5)
                    printed = (tmp_path / log.name).read_text()
                    assert example.until in printed, printed[-3000:]
                    assert _stop(proc) == 0, printed[-3000:]
                    out = printed
                else:
                    assert wait_ready(port, proc), (tmp_path / log.name).read_text()[-3000:]
                    continue
            else:
                command = ["python3", "-c", code] if example.lang == "python" else ["bash", "-c", code]
                done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
                out = done.stdout + done.stderr
                assert done.returncode == 0, f"{page}: exit {done.returncode}\n{code}\n{out[-3000:]}"
            print(f"--- {page}\n{code}\n{out}")  # shown by pytest -s, and with a failure
            for expected in example.expects:
                assert expected in out, f"{page}: {expected!r} not in the output of\n{code}\n{out[-3000:]}"
    finally:
        codes = [_stop(proc) for proc in background]
    assert all(code == 0 for code in codes), codes
