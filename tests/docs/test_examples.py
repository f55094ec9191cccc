"""The README's and the docs' examples, run exactly as written, so they cannot drift from the code.

A shell block preceded by ``<!-- run -->`` runs to completion in a new bash (as if pasted into a
new shell, with nothing on the PATH but the system's) and must exit 0; each ``<!-- expect: TEXT -->``
after it (before the next run block) must be in what it printed. ``<!-- run: background -->`` starts
a long-running command (``spii serve``) and waits until the collector is ready;
``<!-- run: until "TEXT" -->`` waits until the command prints TEXT, then stops it as Ctrl-C would.
Each page runs in its own empty folder holding the project's ``.venv``, on free ports: the
collector's port through ``SPII_PORT``, and ``8080`` / ``8081`` in the examples' own text replaced
by free ones. Background commands are stopped at the end and must exit cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/getting-started.md", "docs/keys.md"]
BLOCK = re.compile(r"<!-- run(?::\s*(?P<mode>background|until \"(?P<until>[^\"]+)\"))? -->\s*\n```(?:sh|bash)\n(?P<code>.*?)\n```", re.S)
EXPECT = re.compile(r"<!-- expect: (.*?) -->")


@dataclass
class Example:
    code: str
    mode: str | None
    until: str | None
    expects: list[str] = field(default_factory=list)


def examples(text: str) -> list[Example]:
    found = list(BLOCK.finditer(text))
    out = []
    for n, match in enumerate(found):
        end = found[n + 1].start() if n + 1 < len(found) else len(text)
        out.append(Example(match["code"], match["mode"], match["until"], EXPECT.findall(text, match.end(), end)))
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


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_run_as_written(page, tmp_path):
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the project's own install, as the install line made it
    port, demo_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPII_", "VIRTUAL_ENV"))}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", SPII_PORT=str(port), HOME=str(tmp_path))
    background: list[subprocess.Popen] = []
    try:
        for example in examples((ROOT / page).read_text()):
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
                done = subprocess.run(["bash", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
                out = done.stdout + done.stderr
                assert done.returncode == 0, f"{page}: exit {done.returncode}\n{code}\n{out[-3000:]}"
            for expected in example.expects:
                assert expected in out, f"{page}: {expected!r} not in the output of\n{code}\n{out[-3000:]}"
    finally:
        codes = [_stop(proc) for proc in background]
    assert all(code == 0 for code in codes), codes
