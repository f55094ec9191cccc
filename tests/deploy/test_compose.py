"""deploy/compose: no Docker engine runs here, so `docker compose config` cannot; these checks
load the files as compose would (YAML with anchors and merge keys) and hold them to what
`compose config` and a first `up` would trip over: pinned images, bind mounts that exist,
services that exist, SPII_* variables spii reads, XML configs that parse and agree with the
compose services, a non-root image with a health check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from collector.config import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"
FILES = [COMPOSE / "compose.yaml", COMPOSE / "cluster" / "compose.yaml"]
SPII_SETTINGS = {f"SPII_{name.upper()}" for name in Settings.model_fields}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_compose_file_is_consistent(path: Path) -> None:
    doc = _load(path)
    services = doc["services"]
    named_volumes = set(doc.get("volumes") or {})
    for name, service in services.items():
        image = service.get("image")
        assert image or service.get("build"), name
        if image and not image.startswith("spii:"):
            assert re.search(r":\d+(\.\d+)+", image), f"{name}: pin the image version ({image})"
        if "build" in service:
            assert (path.parent / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (path.parent / source).exists(), f"{name}: missing bind mount {source}"
            else:
                assert source in named_volumes, f"{name}: undeclared volume {source}"
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services), name
        for variable in service.get("environment", {}) or {}:
            if variable.startswith("SPII_") and variable != "SPII_CLICKHOUSE_PASSWORD":
                assert variable in SPII_SETTINGS, f"{name}: {variable} is not a spii setting"
    spii = [s for n, s in services.items() if n.startswith("spii") and "entrypoint" not in s]  # not the key job
    assert spii, "no collector service"
    for service in spii:
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["environment"]["SPII_CLICKHOUSE_URL"].startswith("http")  # server mode, never embedded


def test_cluster_is_two_shards_of_two_replicas_with_three_keepers() -> None:
    services = _load(COMPOSE / "cluster" / "compose.yaml")["services"]
    cluster = ET.parse(COMPOSE / "cluster" / "clickhouse" / "cluster.xml").getroot()
    shards = cluster.findall("./remote_servers/spii/shard")
    assert len(shards) == 2 and all(len(s.findall("replica")) == 2 for s in shards)
    for shard_no, shard in enumerate(shards, start=1):
        for replica in shard.findall("replica"):
            host = replica.findtext("host")
            assert services[host]["environment"]["CH_SHARD"] == f"{shard_no:02d}"
            assert services[host]["environment"]["CH_REPLICA"] == host
    assert cluster.find("./remote_servers/spii/secret") is not None  # row policies hold on shards
    keepers = [n.findtext("host") for n in cluster.findall("./zookeeper/node")]
    raft = ET.parse(COMPOSE / "cluster" / "keeper" / "keeper.xml").getroot().findall(".//raft_configuration/server")
    assert sorted(keepers) == sorted(s.findtext("hostname") for s in raft) == ["keeper-01", "keeper-02", "keeper-03"]
    assert {services[k]["environment"]["KEEPER_SERVER_ID"] for k in keepers} == {"1", "2", "3"}
    # both collectors use the cluster schema and one shared keyring that only spii-keys writes
    for node in ("spii-1", "spii-2"):
        env = services[node]["environment"]
        assert env["SPII_CLICKHOUSE_CLUSTER"] == "spii" and env["SPII_KEYS_AUTO_ROTATE"] == "false"
        assert "spii-shared:/etc/spii/shared:ro" in services[node]["volumes"]
    assert "spii-shared:/etc/spii/shared" in services["spii-keys"]["volumes"]


def test_reverse_proxy_balances_the_collectors_and_logs_no_ips() -> None:
    services = _load(COMPOSE / "cluster" / "compose.yaml")["services"]
    conf = (COMPOSE / "proxy" / "nginx.conf").read_text()
    assert re.findall(r"server (spii-\d):8080", conf) == ["spii-1", "spii-2"]
    assert "access_log off;" in conf and "ip_hash;" in conf
    proxy_ip = services["proxy"]["networks"]["default"]["ipv4_address"]
    assert services["spii-1"]["environment"]["SPII_TRUSTED_PROXIES"] == f"{proxy_ip}/32"


def test_clickhouse_overrides_cap_memory_queries_and_system_log_growth() -> None:
    root = ET.parse(COMPOSE / "clickhouse" / "config.d" / "small-host.xml").getroot()
    assert float(root.findtext("max_server_memory_usage_to_ram_ratio")) <= 0.8
    assert int(root.findtext("max_concurrent_queries")) > 0
    for table in ("query_log", "part_log", "metric_log", "asynchronous_metric_log", "trace_log"):
        assert "DELETE" in root.findtext(f"{table}/ttl"), table
    users = ET.parse(COMPOSE / "clickhouse" / "users.d" / "spii.xml").getroot()
    assert users.find("./users/spii/password").get("from_env") == "SPII_CLICKHOUSE_PASSWORD"  # no password in the repo


def test_image_is_slim_non_root_and_health_checked() -> None:
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert re.search(r"^STOPSIGNAL SIGTERM", dockerfile, re.M)
    build, final = dockerfile.split("\nFROM ", 2)[1:]
    assert "setup.py" in build and "gcc" in build and "hot_path()" in build  # the image runs the compiled hot path
    assert "gcc" not in final  # and carries no compiler
    example = dict(line.split("=", 1) for line in (COMPOSE / "env.example").read_text().splitlines() if "=" in line and not line.startswith("#"))
    for path in FILES:  # every ${VAR:?} a compose file needs is in env.example
        for variable in re.findall(r"\$\{(\w+):\?", path.read_text()):
            assert variable in example, variable
