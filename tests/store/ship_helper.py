"""Run by tests/store/test_shipper_bisect.py in a fresh Python (chDB: one store per process):
ship the spool of DATA_DIR into its embedded store; with CRASH_AFTER, die (os._exit, like a
kill -9) after that many successful INSERTs. Prints what it did as JSON."""

import asyncio
import json
import os
import sys
from pathlib import Path

from collector.metrics import Metrics
from collector.spool.segments import Spool
from collector.store.clickhouse import Store
from collector.store.shipper import POISON_ATTEMPTS, Shipper


def main(data_dir: str, crash_after: str) -> None:
    root = Path(data_dir)
    store = Store(f"chdb://{(root / 'clickhouse').resolve()}")
    store.migrate()
    spool = Spool(root / "spool")
    inserts = 0
    real_insert = store.insert_segment

    def insert(body: bytes, token: str) -> None:
        nonlocal inserts
        real_insert(body, token)
        inserts += 1
        if crash_after and inserts >= int(crash_after):
            os._exit(3)

    store.insert_segment = insert  # fault injection around the real store
    metrics = Metrics()
    shipper = Shipper(spool, store, metrics)

    async def ship() -> bool:
        for _ in range(POISON_ATTEMPTS + 1):
            if await shipper.ship_ready():
                return True
        return False

    shipped = asyncio.run(ship())
    print(json.dumps({"shipped": shipped, "inserts": inserts, "rows_quarantined": metrics.rows_quarantined._value.get()}))
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
