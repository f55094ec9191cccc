"""Ending a child process the CLI or a benchmark started: asked to stop, then made to."""

from __future__ import annotations

import signal
import subprocess

__all__ = ["stop"]


def stop(proc: subprocess.Popen, timeout: float) -> int | None:
    """SIGTERM (which a process started in the background still gets: SIGINT may be ignored
    there), then SIGKILL if it has not exited within ``timeout`` seconds; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
