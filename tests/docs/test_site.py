"""The README is a front door (short, linking into the docs) and the docs are a site that builds
with no broken link or anchor, its reference pages written from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from collector.cli import OTHER_ENV
from collector.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_is_at_most_250_lines_and_links_into_the_docs():
    assert len(README.splitlines()) <= 250, len(README.splitlines())
    links = re.findall(r"\]\((docs/[^)#]+)", README)
    assert len(links) >= 10 and all((ROOT / link).exists() for link in links), links
    assert "../shared" not in README


def test_the_docs_build_strict_with_the_references_written_from_the_code(tmp_path):
    site = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    configuration = (site / "configuration" / "index.html").read_text()
    for name in [*(f"SPII_{field.upper()}" for field in Settings.model_fields), *OTHER_ENV]:
        assert name in configuration, name
    cli = (site / "cli" / "index.html").read_text()  # argparse's subcommands, read through its private _actions
    for command in ("spii serve", "spii clients add", "spii keys rotate", "spii subject export", "spii demo"):
        assert command in cli, command
    assert "--dp-budget" in cli and "--spool" not in cli
