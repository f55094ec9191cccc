"""spii's build: everything is in pyproject.toml except the beacon's hot path, which mypyc
compiles to C extensions here (collector/build_info.py lists the modules and says why).

The compiled modules are the same typed Python, not a second implementation: without a C
compiler, or with SPII_PURE_PYTHON=1, the install goes on and spii runs them as plain Python
(slower per event, same behaviour). `spii serve` logs which of the two it runs.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
_info = runpy.run_path(str(ROOT / "collector" / "build_info.py"))
HOT_PATH: tuple[str, ...] = _info["HOT_PATH"]
MANIFEST_NAME: str = _info["MANIFEST_NAME"]
source_digest = _info["source_digest"]
PACKAGE_DIR = ROOT / "collector"
_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
GROUP = "spii_hot_path__mypyc"  # mypyc's shared library of the compiled modules (a top-level module)


def _source(module: str) -> Path:
    return _info["source_path"](PACKAGE_DIR, module)


def _built_in_place() -> bool:
    """Whether the checkout already holds the hot path compiled from its current source (an
    earlier `pip install -e .`): every module compiled, none stale, the shared library there."""
    state = _info["hot_path"](PACKAGE_DIR)
    return not state.stale and not state.pure and (ROOT / (GROUP + _SUFFIX)).exists()


def _hot_path_extensions() -> list:
    if os.environ.get("SPII_PURE_PYTHON") == "1":
        print("spii: SPII_PURE_PYTHON=1, the hot path stays pure Python", file=sys.stderr)
        return []
    if os.environ.get("SPII_REBUILD") != "1" and _built_in_place():
        # running the install line again is a restart, not a rebuild (SPII_REBUILD=1 forces one):
        # the same extensions are declared (an editable install maps each name to the checkout)
        # and HotPathBuild leaves the ones built in place as they are
        print("spii: the compiled hot path is up to date with its source; not rebuilt", file=sys.stderr)
        return [Extension(name, sources=[]) for name in (*HOT_PATH, GROUP)]
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("spii: mypyc not available, the hot path stays pure Python", file=sys.stderr)
        return []
    # spii's third-party packages are not in the isolated build environment: their types are
    # taken as Any (the calls into them are the same), spii's own are checked and compiled.
    # Only the hot path's own type errors stop its compilation (--follow-imports=silent).
    options = ["--ignore-missing-imports", "--follow-imports=silent"]
    try:
        return mypycify([*options, *(str(_source(m).relative_to(ROOT)) for m in HOT_PATH)], opt_level="3",
                        group_name=GROUP.removesuffix("__mypyc"))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a type error mypyc refuses: install pure Python, loudly
        print(f"spii: mypyc cannot compile the hot path ({exc!r}); it stays pure Python", file=sys.stderr)
        return []


class HotPathBuild(build_ext):
    """Builds the compiled hot path, or warns and leaves it pure Python when the C compiler
    fails; then records the source digest of each compiled module (collector/build_info.py)."""

    def run(self) -> None:
        if not self.extensions or all(not ext.sources for ext in self.extensions):
            return  # nothing, or what _hot_path_extensions found built in place already
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - no compiler, no Python headers: install pure Python
            print(f"spii: compiling the hot path failed ({exc}); it stays pure Python", file=sys.stderr)
            self._remove_outputs()
            return
        manifest = {"modules": {m: source_digest(_source(m)) for m in HOT_PATH}}
        package_dir = self._package_dir()
        package_dir.mkdir(parents=True, exist_ok=True)
        (package_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        for extension in _info["stray_extensions"](package_dir, HOT_PATH).values():
            extension.unlink()  # an earlier build's module no longer on the hot path: its .py must run

    def _package_dir(self) -> Path:
        """The collector package this build fills (the source tree for an editable install):
        up from the first module's extension by its depth, whichever module comes first."""
        first = HOT_PATH[0]
        return Path(self.get_ext_fullpath(first)).parents[first.count(".") - 1]

    def _remove_outputs(self) -> None:
        for ext in self.extensions:
            Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)


setup(ext_modules=_hot_path_extensions(), cmdclass={"build_ext": HotPathBuild})
