"""Does the beacon's hot path run compiled, and is that build the source beside it?

``setup.py`` compiles the modules of :data:`HOT_PATH` to C extensions with mypyc (the same typed
Python, 1.2-1.4x the events per core under wrk: bench/ingest.py --with-pure) and records each
one's source digest in ``_compiled.json``. Python imports an extension before the ``.py`` of the
same name, so in a checkout installed with ``pip install -e .`` an edited module would go on
running its old compiled self without a word, a privacy fix included: :func:`hot_path` finds
such a module, ``spii serve`` refuses to start with it and the tests refuse to run.

Standard library only: setup.py reads :data:`HOT_PATH` from this file before anything else of
spii is installed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec, SourceFileLoader
from importlib.util import spec_from_file_location
from pathlib import Path

__all__ = ["HOT_PATH", "MANIFEST_NAME", "HotPath", "hot_path", "prefer_source", "source_digest", "source_path", "stray_extensions"]

# What each beacon event runs through, in order (measured with py-spy under wrk, issue 16).
# collector/http/inline.py stays Python: it swaps the class of aiohttp's server object, which a
# compiled class cannot take part in (its per-message work is collector/http/answer.py).
HOT_PATH = (
    "collector.http.answer",
    "collector.http.beacon",
    "collector.ingest.client_ip",
    "collector.ingest.pipeline",
    "collector.ingest.sessions",
    "collector.privacy.anonymise",
    "collector.privacy.url",
    "collector.privacy.keyring",
    "collector.privacy.ipcrypt",
    "collector.spool.segments",
    "collector.privacy.postcode",
    "collector.privacy.geoip",
)
MANIFEST_NAME = "_compiled.json"
PACKAGE_DIR = Path(__file__).resolve().parent


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class HotPath:
    compiled: tuple[str, ...]  # running as C extensions built from the source beside them
    pure: tuple[str, ...]  # running as plain Python (SPII_PURE_PYTHON=1, or no C compiler at install)
    # compiled from a source that has changed since, or left by an earlier build whose hot path
    # had a module this one has not: either way the .py beside it is not what runs
    stale: tuple[str, ...]

    def describe(self) -> str:
        if self.stale:
            return (f"compiled modules that are not their source: {', '.join(self.stale)} "
                    "(run `pip install -e .` again to rebuild them)")
        if not self.pure:
            return f"compiled ({len(self.compiled)} modules)"
        if not self.compiled:
            return "pure Python (SPII_PURE_PYTHON=1, or not compiled at install: no C compiler)"
        return f"compiled {len(self.compiled)} of {len(HOT_PATH)} modules; pure Python: {', '.join(self.pure)}"


class _SourceFirst:
    """A meta path finder that loads the hot path's ``.py`` even where its extension is built."""

    def __init__(self, package_dir: Path) -> None:
        self.package_dir = package_dir

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name not in HOT_PATH:
            return None
        source = source_path(self.package_dir, name)
        return spec_from_file_location(name, source, loader=SourceFileLoader(name, str(source)))


def prefer_source(package_dir: Path = PACKAGE_DIR) -> None:
    """Run the hot path as plain Python in this process (SPII_PURE_PYTHON=1 at run time, read by
    collector/__init__.py before any of it is imported): the same-run baseline of the compiled
    build in bench/ingest.py, and the pure path's own tests."""
    if not _runs_as_source(package_dir):
        sys.meta_path.insert(0, _SourceFirst(package_dir))


def _runs_as_source(package_dir: Path) -> bool:
    return any(isinstance(finder, _SourceFirst) and finder.package_dir == package_dir for finder in sys.meta_path)


def source_path(package_dir: Path, module: str) -> Path:
    """The ``.py`` of a ``collector.*`` module in the package at ``package_dir``."""
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _extension_of(source: Path) -> Path | None:
    """The extension module Python would import instead of ``source``, if there is one."""
    for suffix in EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def stray_extensions(package_dir: Path, modules: tuple[str, ...] = HOT_PATH) -> dict[str, Path]:
    """Extension modules in the package at ``package_dir`` that are not on the hot path (an
    earlier build compiled them): Python would still import them instead of their source."""
    wanted = {source_path(package_dir, m) for m in modules}
    strays = {}
    for suffix in EXTENSION_SUFFIXES:
        for extension in package_dir.rglob("*" + suffix):
            source = extension.with_name(extension.name[: -len(suffix)] + ".py")
            if source.exists() and source not in wanted:
                name = ".".join(("collector", *source.relative_to(package_dir).with_suffix("").parts))
                strays[name] = extension
    return strays


def hot_path(package_dir: Path = PACKAGE_DIR, modules: tuple[str, ...] = HOT_PATH) -> HotPath:
    """What runs for each hot-path module of the package installed at ``package_dir``."""
    try:
        digests = json.loads((package_dir / MANIFEST_NAME).read_text()).get("modules", {})
    except (OSError, ValueError):
        digests = {}
    as_source = _runs_as_source(package_dir)
    compiled, pure, stale = [], [], []
    for name in modules:
        source = source_path(package_dir, name)
        if as_source or _extension_of(source) is None:
            pure.append(name)
        elif source.exists() and digests.get(name) != source_digest(source):
            stale.append(name)
        else:
            compiled.append(name)
    if not as_source:
        stale += stray_extensions(package_dir, modules)
    return HotPath(tuple(compiled), tuple(pure), tuple(stale))
