"""What was sent: each report by (client, kind, period, recipient digest), each alert's last time,
and since when each client's kind of report has been wanted. Written atomically after every
message, so a restart neither sends a report twice nor skips one that fell due while the collector
was down. Holds no address (recipient digests only: mail/links.py)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from collector.files import atomic_write, locked

__all__ = ["Ledger"]

FORMAT = "spii-mail/1"
KEEP_DAYS = 800  # records of periods older than this are dropped (no report is sent that late)


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {}
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"{self.path}: not a {FORMAT} file")
        return {"format": FORMAT, "since": data.get("since", {}), "sent": data.get("sent", {}), "alerts": data.get("alerts", {})}

    def _change(self, edit: Any) -> Any:
        with self._lock, locked(self.path):
            data = self._load()
            result = edit(data)
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True).encode())
            return result

    def since(self, client_id: str, kind: str, now: datetime) -> datetime:
        """When this client's kind of report was first wanted (recorded now if never before):
        only periods closing after it are due, so turning reports on sends no old period."""
        key = f"{client_id}/{kind}"
        seen = self._load()["since"].get(key)
        if seen is not None:
            return datetime.fromisoformat(seen)

        def record(data: dict[str, Any]) -> str:
            return str(data["since"].setdefault(key, now.isoformat()))

        return datetime.fromisoformat(self._change(record))

    def sent_to(self, client_id: str, kind: str, first: date) -> set[str]:
        return set(self._load()["sent"].get(f"{client_id}/{kind}/{first}", []))

    def record_sent(self, client_id: str, kind: str, first: date, recipient: str) -> None:
        def record(data: dict[str, Any]) -> None:
            data["sent"].setdefault(f"{client_id}/{kind}/{first}", []).append(recipient)
            cutoff = (first - timedelta(days=KEEP_DAYS)).isoformat()
            data["sent"] = {key: value for key, value in data["sent"].items() if key.rsplit("/", 1)[1] >= cutoff}

        self._change(record)

    def last_alert(self, client_id: str, kind: str) -> datetime | None:
        seen = self._load()["alerts"].get(f"{client_id}/{kind}")
        return None if seen is None else datetime.fromisoformat(seen)

    def record_alert(self, client_id: str, kind: str, when: datetime) -> None:
        def record(data: dict[str, Any]) -> None:
            data["alerts"][f"{client_id}/{kind}"] = when.astimezone(UTC).isoformat()

        self._change(record)
