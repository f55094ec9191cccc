"""The per-client abuse guard: defaults sized for real peaks, per-client rates, bounded state."""

import json
import subprocess
import sys

from collector.config import Settings
from collector.ingest.pipeline import TokenBucket


def test_defaults_take_a_popular_sites_spike():
    settings = Settings()
    bucket = TokenBucket(settings.client_rate, settings.client_burst)
    assert all(bucket.allow("c_1") for _ in range(50_000))  # a spike of 50k events at once is stored


def test_a_client_brings_its_own_rate_and_zero_means_no_limit():
    bucket = TokenBucket(200, 1000)
    assert sum(bucket.allow("small", rate=1, burst=10) for _ in range(50)) == 10
    assert sum(bucket.allow("default") for _ in range(2000)) == 1000
    assert all(bucket.allow("unlimited", rate=0) for _ in range(100_000))


def test_state_is_bounded():
    bucket = TokenBucket(1e9, 10, max_keys=1000)
    for n in range(10_000):
        bucket.allow(f"k{n}")
    assert len(bucket) <= 1000


def test_clients_update_sets_a_rate(tmp_path):
    env = {"SPII_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "collector", "clients", *a], env=env, capture_output=True, text=True)  # noqa: E731
    assert run("add", "shop", "--domain", "shop.example", "--rate", "50").returncode == 0
    out = run("update", "shop", "--rate", "0", "--burst", "10", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rate"] == 0 and json.loads(out.stdout)["burst"] == 10
    assert run("update", "shop", "--k", "3").returncode == 2  # validated: k never below 5
    assert run("update", "shop").returncode == 2
