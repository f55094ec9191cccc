"""A real SMTP server (aiosmtpd) in the test process: what it receives, parsed, for tests to read."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.e2e.harness import free_port


class Inbox:
    """Every message the server took, with its envelope recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001 - aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [m for _, m in self.received]

    def wait_for(self, count: int, timeout: float = 60) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.1)
        raise AssertionError(f"{len(self.messages)} messages arrived, expected {count}")


def start_smtp(inbox: Inbox, **options) -> Controller:  # noqa: ANN003 - aiosmtpd's Controller options
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a report or alert."""
    return tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n").strip() for kind in ("plain", "html"))  # type: ignore[return-value]
