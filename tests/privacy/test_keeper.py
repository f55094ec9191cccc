"""The key keeper under a moved clock (time-machine): keys never run out while this node may
create them, and an operator is told when they may."""

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import time_machine

from collector.audit import AuditLog
from collector.privacy import ipcrypt
from collector.privacy.keeper import KeyKeeper
from collector.privacy.keyring import KeyringStore, LiveKeyring, NoCurrentKey
from collector.privacy.masterkey import MasterKey

START = datetime(2026, 11, 22, 13, 30, tzinfo=UTC)


def _keeper(tmp_path, auto_rotate=True, ahead=7, min_ahead=2, created_ahead=7, reload_interval=0.0):
    master = MasterKey(os.urandom(32))
    store = KeyringStore(tmp_path / "keyring.json", master)
    store.rotate(created_ahead, START)
    gauge = []
    keeper = KeyKeeper(LiveKeyring(store, interval=reload_interval), ahead=ahead, min_ahead=min_ahead, auto_rotate=auto_rotate,
                       audit=AuditLog(tmp_path / "audit.log", master), on_ahead=gauge.append)
    return keeper, gauge


def _pseudonymise(keeper):
    return keeper.live.get().pseudonymise("c1", ipcrypt.ip_to_bytes("203.0.113.9"), "firefox", datetime.now(UTC))


def test_ten_and_forty_days_later_the_current_key_is_created_on_demand(tmp_path):
    with time_machine.travel(START, tick=False) as clock:
        keeper, _ = _keeper(tmp_path)
        for days in (10, 40):
            clock.move_to(START + timedelta(days=days))
            try:
                _pseudonymise(keeper)
                raise AssertionError("the key should be missing before the keeper runs")
            except NoCurrentKey:
                pass
            assert asyncio.run(keeper.supply_current()) is True
            assert _pseudonymise(keeper).key_id == (START + timedelta(days=days)).strftime("%Y-%m-%d")
            assert keeper.epochs_ahead() == 7
    entries = (tmp_path / "audit.log").read_text().count('"keys.rotate"')
    assert entries == 2  # each creation audited, as the CLI's rotate is


def test_the_timer_keeps_keys_ahead_day_after_day(tmp_path):
    with time_machine.travel(START, tick=False) as clock:
        keeper, gauge = _keeper(tmp_path, created_ahead=0)
        for day in range(30):
            clock.move_to(START + timedelta(days=day, hours=1))
            keeper.check()
            assert keeper.has_current() and keeper.epochs_ahead() == 7
        assert gauge[-1] == 7


def test_concurrent_events_create_the_key_once(tmp_path):
    with time_machine.travel(START, tick=False) as clock:
        keeper, _ = _keeper(tmp_path)
        clock.move_to(START + timedelta(days=20))

        async def many():
            return await asyncio.gather(*(keeper.supply_current() for _ in range(50)))

        assert all(asyncio.run(many()))
    assert (tmp_path / "audit.log").read_text().count('"keys.rotate"') == 1


def test_without_auto_rotate_it_warns_then_refuses_with_one_error_a_minute(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="spii.keys")
    with time_machine.travel(START, tick=False) as clock:
        keeper, gauge = _keeper(tmp_path, auto_rotate=False, created_ahead=3, min_ahead=2)
        keeper.check()
        assert gauge == [3] and not [r for r in caplog.records if r.levelno >= logging.WARNING]
        clock.move_to(START + timedelta(days=2))
        keeper.check()
        assert gauge[-1] == 1
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and warnings[0].fields["epochs_ahead"] == 1
        clock.move_to(START + timedelta(days=5))
        assert asyncio.run(keeper.supply_current()) is False
        assert asyncio.run(keeper.supply_current()) is False  # the same minute: no second line
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "refused" in errors[0].getMessage()
        # an operator delivers the keys: the next event finds them without a restart
        keeper.live.store.rotate(7, datetime.now(UTC))
        assert asyncio.run(keeper.supply_current()) is True


def test_cipher_contexts_are_flushed_when_the_keyring_changes(tmp_path):
    with time_machine.travel(START, tick=False):
        keeper, _ = _keeper(tmp_path)
        _pseudonymise(keeper)
        assert ipcrypt.cached_contexts() >= 1
        keeper.live.store.rotate(8, datetime.now(UTC))  # any change of the file
        keeper.live.reload()
        assert ipcrypt.cached_contexts() == 0


def test_a_key_written_by_the_timer_a_moment_ago_is_found(tmp_path):
    """The race CI found: the timer's check (another thread) writes today's key; an event's
    check then adds nothing, and must still read the new file instead of answering 503."""
    with time_machine.travel(START, tick=False) as clock:
        keeper, _ = _keeper(tmp_path, reload_interval=3600)  # the file is not re-checked on its own meanwhile
        clock.move_to(START + timedelta(days=30))
        keeper.live.get()  # the collector's snapshot: before the move, no key for today
        keeper.live.store.rotate(7, datetime.now(UTC))  # the timer, in its thread, rotated (the file changed, no reload yet)
        assert asyncio.run(keeper.supply_current()) is True


def test_a_key_is_supplied_while_the_shared_pool_is_busy(tmp_path):
    """The stall CI found in the simulated year: every thread of the loop's shared pool was busy
    (report queries queue there for the store), and an event needing today's key waited behind
    them for over 10 s. Key work has its own thread: here the pool stays blocked until the key
    has been supplied (with the shared pool, this would wait for the 60 s guard and fail)."""
    with time_machine.travel(START, tick=False) as clock:
        keeper, _ = _keeper(tmp_path)
        clock.move_to(START + timedelta(days=20))
        release = threading.Event()

        async def supply_with_the_pool_blocked() -> bool:
            loop = asyncio.get_running_loop()
            loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
            busy = [loop.run_in_executor(None, release.wait) for _ in range(4)]
            try:
                supplied = await asyncio.wait_for(keeper.supply_current(), 60)
                assert not release.is_set() and not any(b.done() for b in busy)
            finally:
                release.set()
            await asyncio.gather(*busy)
            return supplied

        assert asyncio.run(supply_with_the_pool_blocked()) is True
        assert keeper.has_current() and keeper.epochs_ahead() == 7
    keeper.close()


def test_a_clock_stepped_back_across_the_first_midnight_gets_its_days_key(tmp_path):
    """An NTP correction on a collector's first day moved 00:20 back to 23:20 the day before:
    rotation only adds epochs after the last one, so every event was refused (503) for the hour.
    The keeper makes the key of the day the clock is in (never over a destroyed epoch); a clock
    days behind stays refused."""
    first = datetime(2026, 12, 10, 0, 20, tzinfo=UTC)
    with time_machine.travel(first, tick=False) as clock:
        master = MasterKey(os.urandom(32))
        store = KeyringStore(tmp_path / "keyring.json", master)
        store.rotate(7, first)
        keeper = KeyKeeper(LiveKeyring(store, interval=0.0), ahead=7, min_ahead=2, auto_rotate=True)
        clock.move_to(first - timedelta(hours=1))
        assert not keeper.has_current()
        assert asyncio.run(keeper.supply_current()) is True
        assert _pseudonymise(keeper).key_id == "2026-12-09"
        clock.move_to(first - timedelta(days=5))  # a clock this wrong is not an NTP step: no key for it
        assert asyncio.run(keeper.supply_current()) is False
        assert "2026-12-05" not in keeper.live.get().by_id
