"""The README's front door, as a new user runs it: the install-and-run line twice in one folder
(the second run serves again), settings mistakes and a second collector on one data dir in one
line each, and CLI commands that find the collector on its configured port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import free_port, wait_ready

BIN = Path(sys.executable).parent
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
RUN_LINE = "spii clients add mysite --domain example.com && spii serve"  # the README's line, after the venv is made


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPII_")}
    return {**env, "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}", "SPII_PORT": str(port)}


def _start(folder: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(["bash", "-c", RUN_LINE], cwd=folder, env=_env(port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return out, err


def test_the_install_and_run_line_works_twice_in_one_folder(tmp_path):
    assert "spii clients add mysite --domain example.com && .venv/bin/spii serve" in README.replace(".venv/bin/spii clients", "spii clients")
    port = free_port()
    first = _start(tmp_path, port)
    assert wait_ready(port, first), first.stderr.read() if first.poll() is not None else "not ready"
    # while it runs: a second collector on the same data dir is refused in one line
    again = subprocess.run(["spii", "serve", "--port", str(free_port())], cwd=tmp_path, env=_env(port), capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 2 and again.stderr.startswith("spii: error: another spii serve uses the data dir")
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    # CLI commands find it on SPII_PORT, with the admin token from the data dir
    status = subprocess.run(["spii", "clients", "status", "mysite"], cwd=tmp_path, env=_env(port), capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0 and "receiving events: 0 in the last hour" in status.stdout, status.stderr
    out, _ = _stop(first)
    assert '"token"' in out  # the first run registered the client

    second = _start(tmp_path, port)  # a restart: the client exists, nothing changes, and it serves
    try:
        assert wait_ready(port, second), second.stderr.read() if second.poll() is not None else "not ready"
    finally:
        out, err = _stop(second)
    assert '"existed": true' in out and '"token"' not in out
    assert second.returncode == 0, err[-2000:]


def test_settings_mistakes_are_one_line(tmp_path):
    env = _env(free_port())
    bad = subprocess.run(["spii", "clients", "list"], cwd=tmp_path, env={**env, "SPII_PORT": "abc"}, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "SPII_PORT" in bad.stderr
    typo = subprocess.run(["spii", "clients", "list"], cwd=tmp_path, env={**env, "SPII_PORTT": "9000"}, capture_output=True, text=True)
    assert typo.returncode == 0 and "SPII_PORTT is not a setting" in typo.stderr and "did you mean SPII_PORT?" in typo.stderr
    # a read-only command outside the project folder: a one-line error, and no file created
    report = subprocess.run(["spii", "report", "mysite"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert report.returncode == 2 and "no token" in report.stderr and "--token" in report.stderr and "--data-dir" in report.stderr
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())
    # a port in use
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = subprocess.run(["spii", "serve", "--port", str(taken.getsockname()[1])], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
    assert busy.returncode == 2 and "cannot listen on 127.0.0.1" in busy.stderr.splitlines()[-1] and "--port" in busy.stderr


def test_the_readme_links_the_design_document_in_the_repository():
    assert "../shared" not in README and "](docs/design.md)" in README
    assert (Path(__file__).resolve().parents[2] / "docs" / "design.md").exists()


def test_an_event_right_after_clients_add_is_taken(tmp_path):
    """The registry is re-read as soon as an event names a site it does not know (at most every
    50 ms), so a site's first events, sent the moment it is registered, are not dropped."""
    from tests.e2e.harness import Collector

    collector = Collector(tmp_path / "data")
    (tmp_path / "data").mkdir()
    collector.add_client("first", "first.example")
    collector.start()
    try:
        collector.add_client("second", "second.example")
        status, headers, _ = collector.send({"n": "pageview", "u": "https://second.example/", "d": "second.example"})
        assert status == 202 and "x-spii-dropped" not in headers, headers
        status, headers, _ = collector.send({"n": "pageview", "u": "https://nobody.example/", "d": "nobody.example"})
        assert headers.get("x-spii-dropped") == "unknown_client"
    finally:
        collector.stop()


def test_a_dp_budget_without_opendp_is_one_line_naming_the_extra(tmp_path):
    """OpenDP is the optional `dp` extra: on an install without it, giving a client a budget
    says which extra to install, in one line, and changes nothing."""
    shadow = tmp_path / "no-opendp"
    (shadow / "opendp").mkdir(parents=True)
    (shadow / "opendp" / "__init__.py").write_text("raise ImportError('this install has no OpenDP')\n")
    env = {**_env(free_port()), "PYTHONPATH": str(shadow), "SPII_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(["spii", "clients", "add", "shop", "--domain", "shop.example", "--dp-budget", "3"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "pip install -e '.[dp]'" in out.stderr
    listed = subprocess.run(["spii", "clients", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert "shop" not in listed.stdout
