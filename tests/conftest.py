"""Refuse to test a compiled hot path that is not the source beside it (collector/build_info.py):
after editing a compiled module, `pip install -e .` (or scripts/test.sh) rebuilds it."""

import pytest

from collector.build_info import hot_path


def pytest_configure(config: pytest.Config) -> None:
    hot = hot_path()
    if hot.stale:
        pytest.exit(f"not testing stale code: {hot.describe()}", returncode=4)
