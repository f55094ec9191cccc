import pytest

from tests.e2e.harness import Collector


@pytest.fixture
def collector(tmp_path):
    c = Collector(tmp_path / "data")
    (tmp_path / "data").mkdir()
    yield c
    if c.proc is not None:
        c.proc.kill()
        c.proc.wait()
