"""The README's install-and-run line exactly as written, in a fresh clone, twice in the same folder
(as a new user would: the second time is a restart), with nothing of the test's own install on the
PATH. The second run must not compile the hot path again. Prints the times and the venv's size."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def install_line() -> str:
    section = README[README.index("## Install and run"):]
    return re.search(r"```sh\n(.*?)\n```", section, re.S).group(1).strip()


def _compiled(clone: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in clone.glob("spii_hot_path__mypyc*.so")}


@pytest.mark.slow
def test_the_install_line_twice_in_a_fresh_clone(tmp_path):
    line = install_line()
    assert line.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ") and line.endswith(".venv/bin/spii serve")
    clone = tmp_path / "spii"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    port = free_port()
    own = str(ROOT / ".venv")
    path = ":".join(p for p in os.environ.get("PATH", "/usr/bin:/bin").split(":") if not p.startswith(own))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPII_", "VIRTUAL_ENV"))}
    env.update(PATH=path, SPII_PORT=str(port))
    times, compiled = [], []
    for round_ in (1, 2):
        started = time.monotonic()
        proc = subprocess.Popen(["bash", "-c", line], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            assert wait_ready(port, proc, timeout=900), proc.stdout.read()[-8000:] if proc.poll() is not None else "not ready"
            times.append(time.monotonic() - started)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
            out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-4000:]
        assert ('"existed": true' in out) == (round_ == 2), out[-2000:]
        compiled.append(_compiled(clone))
    assert compiled[0] and compiled[0] == compiled[1], "the second install compiled the hot path again"
    size = subprocess.run(["du", "-sm", str(clone / ".venv")], capture_output=True, text=True).stdout.split()[0]
    print(f"install and ready: {times[0]:.1f} s; again (restart through the install line): {times[1]:.1f} s; venv {size} MB")
