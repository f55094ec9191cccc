"""The store's readiness answer (Store.ping, behind /readyz) while another call holds its one
connection: the store answered before and is busy, so it is ready; after a failed call it is
not. Real embedded ClickHouse; the long call holds the connection as a long report does."""

import threading
import time

from collector.store.clickhouse import Store
from tests.e2e.harness import free_port


def _held(store: Store) -> tuple[threading.Event, threading.Thread]:
    """A call that holds the store's connection until the returned event is set."""
    release = threading.Event()

    def long_call() -> None:
        with store._using():
            assert release.wait(60)

    thread = threading.Thread(target=long_call)
    thread.start()
    while store._busy_since is None:
        time.sleep(0.01)
    return release, thread


def test_a_busy_store_that_answered_is_ready_and_one_whose_last_call_failed_is_not(tmp_path):
    store = Store(f"chdb://{tmp_path}/clickhouse")
    try:
        assert store.ping()
        release, thread = _held(store)
        try:
            assert store.ping(wait=0.05) is True and thread.is_alive()  # answered without waiting for the call
        finally:
            release.set()
            thread.join()
        try:
            store.query("SELECT no_such_column")
        except Exception:  # noqa: BLE001 - the failed call this test needs
            pass
        release, thread = _held(store)
        try:
            assert store.ping(wait=0.05) is False  # busy, but its last call failed: not known to answer
        finally:
            release.set()
            thread.join()
        assert store.ping() is True  # free again: asked directly
    finally:
        store.close()


def test_a_server_that_is_down_is_not_ready():
    assert Store(f"http://127.0.0.1:{free_port()}", connect_timeout=1).ping() is False
