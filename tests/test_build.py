"""The compiled hot path (setup.py, collector/build_info.py): the tests run the code users run,
and a compiled module that no longer matches its source is found, not silently run."""

import importlib
import json
import os
from importlib.machinery import EXTENSION_SUFFIXES

import pytest

from collector import build_info
from collector.build_info import HOT_PATH, MANIFEST_NAME, hot_path, source_digest


@pytest.mark.skipif(os.environ.get("SPII_PURE_PYTHON") == "1", reason="installed as pure Python (SPII_PURE_PYTHON=1)")
def test_the_hot_path_runs_compiled():
    hot = hot_path()
    assert hot.compiled == HOT_PATH, hot.describe()
    for name in HOT_PATH:  # and the import system agrees: these are the extension modules
        assert importlib.import_module(name).__file__.endswith(tuple(EXTENSION_SUFFIXES)), name


def _package(tmp_path, compiled: bool):
    """A package with one hot-path module, built (an extension beside it and its digest in the
    manifest) or not."""
    source = tmp_path / "ingest" / "pipeline.py"
    source.parent.mkdir()
    source.write_text("STEPS = 1\n")
    if compiled:
        source.with_name("pipeline" + EXTENSION_SUFFIXES[0]).write_bytes(b"\x7fELF")
        (tmp_path / MANIFEST_NAME).write_text(json.dumps({"modules": {"collector.ingest.pipeline": source_digest(source)}}))
    return source


def test_a_module_edited_after_its_build_is_stale(tmp_path):
    modules = ("collector.ingest.pipeline",)
    source = _package(tmp_path, compiled=True)
    assert hot_path(tmp_path, modules) == build_info.HotPath(modules, (), ())
    source.write_text("STEPS = 2\n")
    hot = hot_path(tmp_path, modules)
    assert hot.stale == modules and not hot.compiled
    assert "collector.ingest.pipeline" in hot.describe() and "pip install -e ." in hot.describe()
    (tmp_path / MANIFEST_NAME).unlink()  # an extension without a record of its source: not trusted either
    assert hot_path(tmp_path, modules).stale == modules


def test_an_extension_left_by_an_earlier_build_is_stale(tmp_path):
    """A module taken off the hot path keeps its old extension in an editable checkout, and
    Python would import it before the .py: found, and named."""
    modules = ("collector.ingest.pipeline",)
    _package(tmp_path, compiled=True)
    source = tmp_path / "files.py"
    source.write_text("X = 1\n")
    source.with_name("files" + EXTENSION_SUFFIXES[0]).write_bytes(b"\x7fELF")
    hot = hot_path(tmp_path, modules)
    assert hot.compiled == modules and hot.stale == ("collector.files",)
    assert "collector.files" in hot.describe()
    assert build_info.stray_extensions(tmp_path, modules) == {"collector.files": source.with_name("files" + EXTENSION_SUFFIXES[0])}


def test_without_extensions_the_hot_path_is_pure_python(tmp_path):
    modules = ("collector.ingest.pipeline",)
    _package(tmp_path, compiled=False)
    hot = hot_path(tmp_path, modules)
    assert hot == build_info.HotPath((), modules, ())
    assert hot.describe().startswith("pure Python")


def test_serve_refuses_a_stale_build(monkeypatch, capsys):
    from collector import cli

    monkeypatch.setattr(build_info, "hot_path", lambda: build_info.HotPath((), (), ("collector.ingest.pipeline",)))
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "cannot serve" in err and "collector.ingest.pipeline" in err
