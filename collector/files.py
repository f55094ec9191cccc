"""Small, careful file primitives shared by the keyring, client registry and audit log."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger("spii.files")
T = TypeVar("T")


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that readers see either the old or the new file, never
    a torn one, even across a crash: temp file in the same directory, fsync, rename, fsync dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or create in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<path>.lock`` (blocks until free). Two admin
    commands editing the same file are serialised; readers do not lock (writes are atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class HeldByAnother(Exception):
    """Another live process holds the lock; ``pid`` is the one it wrote (0 if unreadable)."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"held by pid {pid}")
        self.pid = pid


def hold_exclusively(path: Path) -> int:
    """Take a non-blocking exclusive lock on ``path`` for the rest of this process's life and
    write our pid into it; the descriptor is returned (keep it open). The kernel drops the lock
    when the process dies, however it dies, so a stale file never blocks a restart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = int(os.pread(fd, 32, 0).decode().strip() or 0)
        except ValueError:
            pid = 0
        os.close(fd)
        raise HeldByAnother(pid) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def write_secret_file(path: Path, data: bytes) -> None:
    """Create a secret file readable by its owner only (mode 0600), atomically."""
    atomic_write(path, data, mode=0o600)


class ReloadingFile(Generic[T]):
    """A value loaded from a file and reloaded when the file changes (mtime, size or inode),
    checked at most once per ``interval`` seconds. A failed reload (damaged file, wrong key)
    keeps the last good value and logs why, so a bad edit never takes a collector down."""

    def __init__(self, path: Path, load: Callable[[], T], interval: float = 1.0, what: str = "file",
                 on_change: Callable[[], None] | None = None) -> None:
        self.path = path
        self._load = load
        self._on_change = on_change
        self.interval = interval
        self.what = what
        self._value = load()
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        # why the file on disk could not be loaded (the value is the last good one): the next
        # start would fail on it, so /readyz reports it
        self.last_error: str | None = None

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def get(self) -> T:
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self._checked = now
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._try_reload(stamp)
        return self._value

    def refresh(self, min_age: float = 0.05) -> bool:
        """Look at the file now (unless that was done within ``min_age`` seconds) and reload it
        if it changed; whether it did. For a value that was just asked for and not found (an
        event for a client registered a moment ago), without a stat per request under a flood."""
        now = time.monotonic()
        if now - self._checked < min_age:
            return False
        self._checked = now
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._try_reload(stamp)
        return self._stamp == stamp

    def reload(self) -> T:
        """Reload now (SIGHUP, or right after this process edited the file)."""
        self._try_reload(self._file_stamp())
        return self._value

    def _try_reload(self, stamp: tuple[int, int, int] | None) -> None:
        try:
            self._value = self._load()
            self._stamp = stamp
            self.last_error = None
            if self._on_change is not None:
                self._on_change()
            log.info("%s reloaded", self.what)
        except Exception as exc:  # noqa: BLE001 - keep serving with the last good value
            self.last_error = f"{self.what} on disk cannot be loaded ({type(exc).__name__}); serving the last good version"
            log.error("%s reload failed, keeping the previous version: %s", self.what, exc)
