"""MkDocs hook: the reference pages written from the code, so neither is written twice.

``<!-- spii:settings -->`` becomes the table of every ``SPII_*`` setting (collector/config.py's
one settings object: name, default, description) and the variables read outside it;
``<!-- spii:cli -->`` becomes every ``spii`` command with its arguments, from the argument parser
(collector/cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SETTINGS_MARK = "<!-- spii:settings -->"
CLI_MARK = "<!-- spii:cli -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and value >= 1 << 20 and value % (1 << 20) == 0:
        return f"{value >> 30} GiB" if value % (1 << 30) == 0 else f"{value >> 20} MiB"
    if isinstance(value, Path) and not value.is_absolute():
        return f"`./{value}`"
    if isinstance(value, list | tuple):
        return "`" + ",".join(map(str, value)) + "`"
    return f"`{value}`"


def settings_table() -> str:
    from collector.cli import OTHER_ENV
    from collector.config import Settings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `SPII_{name.upper()}` | {_default(field)} | {_cell(field.description or '')} |")
    rows += ["", "Read outside the settings object:", "", "| variable | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(meaning)} |" for name, meaning in OTHER_ENV.items()]
    return "\n".join(rows)


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prefix, parser)]
    for action in parser._actions:  # argparse keeps its subcommands here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{prefix} {name}")
    return found


def cli_reference() -> str:
    from collector.cli import build_parser

    parts = []
    for name, parser in _commands(build_parser(), "spii")[1:]:
        usage = parser.format_usage().removeprefix("usage: ").strip()
        help_text = parser.format_help().replace(f"usage: {usage}", "").strip()
        parts.append(f"### `{name}`\n\n```text\n{usage}\n\n{help_text}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if SETTINGS_MARK in markdown:
        markdown = markdown.replace(SETTINGS_MARK, settings_table())
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    return markdown
