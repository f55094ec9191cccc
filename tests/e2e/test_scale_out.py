"""Scale-out: `spii serve --workers N` and several collector nodes sharing one keyring.

Real `spii serve` processes on loopback. No ClickHouse server can run here, so the workers test
points the workers at a closed port (they accept into their own spools while the server is
down) and then lets a single embedded collector adopt and ship those spools."""

import json
import os
import re
import signal
import subprocess
import time

from tests.e2e.harness import SPII, Collector, free_port

PLANTED_IPS = ("203.0.113.77", "198.51.100.91")


def _wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _spooled_lines(spool_dir):
    return sum(p.read_bytes().count(b"\n") for p in spool_dir.rglob("*.jsonl"))


def test_workers_share_the_port_with_own_spools_and_a_single_process_adopts_them(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    workers = Collector(data, SPII_CLICKHOUSE_URL=f"http://127.0.0.1:{free_port()}", SPII_WORKERS="2", SPII_SHUTDOWN_SECONDS="1")
    workers.add_client("shop", "shop.example")
    workers.start(ready="/healthz")
    _wait_for(lambda: workers.logs().count('"msg":"listening"') == 2, what="two listening workers")
    pids = re.findall(r'"msg":"worker started","worker":\d,"pid":(\d+)', workers.logs())
    assert len(set(pids)) == 2

    os.kill(int(pids[0]), signal.SIGKILL)  # a crashed worker is restarted by the supervisor
    _wait_for(lambda: workers.logs().count('"msg":"listening"') == 3, what="the worker's restart")
    assert '"msg":"worker died; restarting","worker":0' in workers.logs()

    for i in range(60):  # one connection per request: the kernel spreads them over both sockets
        status, headers, _ = workers.send({"n": "pageview", "u": f"https://shop.example/p{i}", "d": "shop.example"})
        assert status == 202 and "x-spii-dropped" not in headers
    status, body = workers.get_json("/readyz")
    assert status == 503 and body["checks"]["store"] is False  # honest: the server is down
    # summed over workers; each worker hands its counts to the shared files every 0.5 s
    _wait_for(lambda: 'spii_events_accepted_total{kind="pageview"} 60.0' in workers.request("GET", "/metrics")[2].decode(),
              what="the workers' counts in /metrics")

    assert workers.stop() == 0
    per_worker = {d.name: _spooled_lines(d) for d in (data / "spool").glob("worker-*")}
    assert set(per_worker) == {"worker-0", "worker-1"}
    assert all(n > 0 for n in per_worker.values()), per_worker
    assert sum(per_worker.values()) == 60

    # Scale back to one embedded process: it adopts both workers' spools and ships them.
    single = Collector(data)
    single.start()
    _wait_for(lambda: _spooled_lines(data / "spool") == 0, what="adopted spools to ship")
    assert single.stop() == 0
    assert single.query("SELECT count() AS n, uniqExact(path) AS paths FROM spii.events") == [{"n": 60, "paths": 60}]


def test_embedded_store_refuses_more_than_one_worker(tmp_path):
    out = subprocess.run([*SPII, "serve", "--workers", "2", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--workers > 1 needs a ClickHouse server" in out.stderr


def test_two_nodes_with_one_keyring_give_equal_pseudonyms_and_follow_file_changes(tmp_path):
    shared = tmp_path / "shared"  # what a secret / config map mount gives every node
    env = {
        "SPII_KEYRING_FILE": str(shared / "keyring.json"),
        "SPII_CLIENTS_FILE": str(shared / "clients.json"),
        "SPII_KEYS_AUTO_ROTATE": "false",  # the operator (or a CronJob) rotates, never a node
        "SPII_KEYS_PRUNE_HOURS": "0",
        "SPII_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    nodes = []
    for name in ("node-a", "node-b"):
        (tmp_path / name).mkdir()
        nodes.append(Collector(tmp_path / name, **env))
    a, b = nodes
    a.cli("keys", "rotate", "--ahead", "3")
    a.add_client("shop", "shop.example")
    for node in nodes:
        node.start()
    try:
        for node in nodes:
            for ip in PLANTED_IPS:
                status, _, _ = node.send({"n": "pageview", "u": "https://shop.example/same", "d": "shop.example"},
                                         {"X-Forwarded-For": ip})
                assert status == 202

        # A client registered on one node reaches the other through the shared file.
        event = {"n": "pageview", "u": "https://blog.example/", "d": "blog.example"}
        assert b.send(event)[1].get("x-spii-dropped") == "unknown_client"
        a.add_client("blog", "blog.example")
        _wait_for(lambda: "x-spii-dropped" not in b.send(event)[1], timeout=10, what="node-b to reload clients.json")
    finally:
        for node in nodes:
            if node.proc is not None:
                assert node.stop(signal.SIGTERM) == 0

    sql = ("SELECT toString(ip_token) AS ip_token, toString(visitor_id) AS visitor_id, key_id FROM spii.events "
           "WHERE path = '/same' ORDER BY ip_token")
    rows_a, rows_b = a.query(sql), b.query(sql)
    assert len(rows_a) == 2 and rows_a == rows_b
    assert len({r["ip_token"] for r in rows_a}) == 2 and len({r["visitor_id"] for r in rows_a}) == 2
    keyring_text = (shared / "keyring.json").read_text()
    for node in nodes:
        assert not (node.data_dir / "keyring.json").exists()  # nobody forked a private keyring
        assert all(ip not in node.logs() for ip in PLANTED_IPS)
    assert all(ip not in keyring_text + json.dumps(rows_a) for ip in PLANTED_IPS)
