import base64
import json
import multiprocessing
import os
import stat
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from collector.privacy import ipcrypt
from collector.privacy.keyring import (
    COOKIE,
    IP,
    KeyDestroyed,
    KeyringStore,
    LiveKeyring,
    NoCurrentKey,
    UnknownKey,
    align,
)
from collector.privacy.masterkey import KeyringError, MasterKey

NOW = datetime(2026, 11, 22, 13, 30, tzinfo=UTC)
IP_A = ipcrypt.ip_to_bytes("203.0.113.7")


@pytest.fixture
def master():
    return MasterKey(os.urandom(32))


@pytest.fixture
def store(tmp_path, master):
    s = KeyringStore(tmp_path / "keyring.json", master)
    s.rotate(7, NOW)
    return s


def test_rotate_creates_current_and_future_utc_aligned_epochs(store):
    ring = store.load()
    ips = ring.epochs[IP]
    assert [e.key_id for e in ips][:2] == ["2026-11-22", "2026-11-23"]
    assert len(ips) == 8
    assert ips[0].start == datetime(2026, 11, 22, tzinfo=UTC) and ips[0].end - ips[0].start == timedelta(days=1)
    assert ring.epoch_at(NOW).state(NOW) == "active"
    assert all(e.state(NOW) == "pending" for e in ips[1:])
    assert ring.epochs[COOKIE]  # cookie series exists too
    status = ring.status(NOW)
    assert status["ok"] and status[IP]["active"] == "2026-11-22" and status[IP]["pending"] == 7


def test_rotate_is_idempotent_and_extends_later(store):
    assert store.rotate(7, NOW) == []
    added = store.rotate(7, NOW + timedelta(days=2))
    assert [e.key_id for e in added] == ["2026-11-30", "2026-12-01"]


def test_file_holds_only_wrapped_keys_and_is_private(store, master):
    data = json.loads(store.path.read_text())
    assert data["kek_id"] == master.kek_id
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    ring = store.load()
    raw = ring._epoch_key(ring.epoch_at(NOW))
    assert base64.b64encode(raw).decode() not in store.path.read_text()
    assert raw.hex() not in store.path.read_text()


def test_tokens_differ_per_client_and_epoch_and_decrypt(store):
    ring = store.load()
    a = ring.pseudonymise("client-a", IP_A, "Chrome/131", NOW)
    b = ring.pseudonymise("client-b", IP_A, "Chrome/131", NOW)
    a2 = ring.pseudonymise("client-a", IP_A, "Chrome/131", NOW + timedelta(days=1))
    assert a.key_id == "2026-11-22" and a2.key_id == "2026-11-23"
    assert len({a.ip_token, b.ip_token, a2.ip_token}) == 3
    assert len({a.visitor_id, b.visitor_id, a2.visitor_id}) == 3
    assert ring.pseudonymise("client-a", IP_A, "Chrome/131", NOW) == a  # stable within an epoch
    assert ring.pseudonymise("client-a", IP_A, "Firefox/132", NOW).visitor_id != a.visitor_id
    assert ring.decrypt_ip("client-a", a.ip_token, a.key_id) == "203.0.113.7"
    assert ring.decrypt_ip("client-b", a.ip_token, a.key_id) != "203.0.113.7"
    assert ring.ip_token("client-a", "203.0.113.7", NOW) == (a.key_id, a.ip_token)


def test_cookie_hash_is_keyed_per_client(store):
    ring = store.load()
    h1 = ring.cookie_hash("client-a", "cookie-123", NOW)
    assert h1 == ring.cookie_hash("client-a", "cookie-123", NOW + timedelta(days=3))  # long-lived
    assert h1 != ring.cookie_hash("client-b", "cookie-123", NOW)


def test_no_key_for_time_refuses(store):
    ring = store.load()
    with pytest.raises(NoCurrentKey):
        ring.pseudonymise("c", IP_A, "", NOW + timedelta(days=30))
    with pytest.raises(NoCurrentKey):
        ring.pseudonymise("c", IP_A, "", NOW - timedelta(days=1))


def test_destroy_shreds_only_ended_epochs_and_tombstones_remain(store):
    ring = store.load()
    token = ring.pseudonymise("c", IP_A, "", NOW).ip_token
    later = NOW + timedelta(days=3)
    destroyed, skipped = store.destroy(date(2026, 11, 24), later)
    assert [e.key_id for e in destroyed] == ["2026-11-22", "2026-11-23"]
    assert skipped == []
    ring = store.load()
    tomb = ring.by_id["2026-11-22"]
    assert tomb.destroyed and tomb.state(later) == "destroyed" and tomb.wrapped is None
    entry = next(e for e in json.loads(store.path.read_text())["epochs"] if e["key_id"] == "2026-11-22")
    assert "wrapped_key" not in entry and entry["destroyed_at"]
    with pytest.raises(KeyDestroyed):
        ring.decrypt_ip("c", token, "2026-11-22")
    with pytest.raises(NoCurrentKey):
        ring.pseudonymise("c", IP_A, "", NOW)
    with pytest.raises(UnknownKey):
        ring.decrypt_ip("c", token, "1999-01-01")
    found, gone = ring.subject_ip_tokens("c", "203.0.113.7", NOW - timedelta(days=1), later)
    assert gone == ["2026-11-22", "2026-11-23"] and [k for k, _ in found] == ["2026-11-24", "2026-11-25"]


def test_destroy_never_touches_the_active_or_pending_epochs(store):
    destroyed, skipped = store.destroy(date(2026, 12, 31), NOW)
    assert destroyed == []
    assert "2026-11-22" in [e.key_id for e in skipped]
    assert store.load().epoch_at(NOW).destroyed is False


def test_wrong_master_key_is_a_clear_error_and_nothing_is_overwritten(store):
    before = store.path.read_bytes()
    wrong = KeyringStore(store.path, MasterKey(os.urandom(32)))
    for action in (wrong.load, lambda: wrong.rotate(10, NOW), lambda: wrong.destroy(date(2030, 1, 1), NOW)):
        with pytest.raises(KeyringError, match="master key does not match"):
            action()
    assert store.path.read_bytes() == before


def test_damaged_file_is_a_clear_error(tmp_path, master):
    path = tmp_path / "keyring.json"
    path.write_text("{not json")
    with pytest.raises(KeyringError, match="damaged"):
        KeyringStore(path, master).load()


def test_swapped_wrapped_keys_are_detected(store):
    data = json.loads(store.path.read_text())
    ips = [e for e in data["epochs"] if e["purpose"] == IP]
    ips[0]["wrapped_key"], ips[1]["wrapped_key"] = ips[1]["wrapped_key"], ips[0]["wrapped_key"]
    store.path.write_text(json.dumps(data))
    with pytest.raises(KeyringError, match="cannot be unwrapped"):
        store.load().pseudonymise("c", IP_A, "", NOW)


def test_master_key_sources(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    assert MasterKey.load(key, None, tmp_path / "dev").kek_id == MasterKey.from_base64(key, "x").kek_id
    keyfile = tmp_path / "kek"
    keyfile.write_text(key + "\n")
    assert MasterKey.load(None, keyfile, tmp_path / "dev").kek_id == MasterKey.from_base64(key, "x").kek_id
    with pytest.raises(KeyringError, match="base64"):
        MasterKey.load("not base64!!", None, tmp_path / "dev")
    with pytest.raises(KeyringError, match="32 bytes"):
        MasterKey.load(base64.b64encode(b"short").decode(), None, tmp_path / "dev")
    dev = tmp_path / "dev.key"
    first = MasterKey.load(None, None, dev)
    assert stat.S_IMODE(os.stat(dev).st_mode) == 0o600
    assert MasterKey.load(None, None, dev).kek_id == first.kek_id
    assert key not in repr(first)


def test_live_keyring_picks_up_rotation_while_a_reader_uses_it(store):
    live = LiveKeyring(store, interval=0)
    errors, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                live.get().pseudonymise("c", IP_A, "", NOW)
            except Exception as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for day in range(1, 30):
        store.rotate(7, NOW + timedelta(days=day))
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert live.get().epoch_at(NOW + timedelta(days=35)) is not None


def test_live_keyring_keeps_last_good_snapshot_on_bad_file(store):
    live = LiveKeyring(store, interval=0)
    store.path.write_text("garbage")
    assert live.get().epoch_at(NOW) is not None


def _rotate_in_child(path, key, ahead):
    s = KeyringStore(path, MasterKey(key))
    s.rotate(ahead, NOW)


def test_concurrent_admin_commands_do_not_interleave(tmp_path):
    key = os.urandom(32)
    path = tmp_path / "keyring.json"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rotate_in_child, args=(path, key, 3 + i % 5)) for i in range(12)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    ring = KeyringStore(path, MasterKey(key)).load()
    ids = [e.key_id for e in ring.epochs[IP]]
    assert len(ids) == len(set(ids))  # no epoch created twice
    starts = [e.start for e in ring.epochs[IP]]
    assert all(b - a == timedelta(days=1) for a, b in zip(starts, starts[1:]))  # no gaps, no overlaps
    assert ids[0] == "2026-11-22" and ids[-1] == "2026-11-29"  # the largest --ahead (7) wins


def test_sub_day_epochs(tmp_path, master):
    s = KeyringStore(tmp_path / "k.json", master, epoch_length=timedelta(hours=6))
    s.rotate(2, NOW)
    assert [e.key_id for e in s.load().epochs[IP]] == ["2026-11-22T12", "2026-11-22T18", "2026-11-23T00"]
    assert align(NOW, timedelta(hours=6)) == datetime(2026, 11, 22, 12, tzinfo=UTC)
