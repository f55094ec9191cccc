"""The `spii` command line (also `python -m collector`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from collector.audit import AuditLog
from collector.config import Settings
from collector.privacy.keyring import COOKIE, IP, KeyringStore
from collector.privacy.masterkey import KeyringError, MasterKey

log = logging.getLogger("spii.cli")


class CliError(Exception):
    """An error worth one clear line on stderr and exit status 2."""


# --- shared plumbing -------------------------------------------------------------------------


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def master_key(settings: Settings) -> MasterKey:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return MasterKey.load(
        settings.master_key.get_secret_value() if settings.master_key else None,
        settings.master_key_file,
        settings.dev_master_key_path,
    )


def keyring_store(settings: Settings, master: MasterKey) -> KeyringStore:
    return KeyringStore(
        settings.keyring_path,
        master,
        epoch_length=timedelta(hours=settings.key_epoch_hours),
        cookie_epoch_length=timedelta(days=settings.cookie_key_epoch_days),
    )


def emit(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2, default=str) if getattr(args, "json", False) else human)


# --- spii keys -------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    master = master_key(settings)
    store = keyring_store(settings, master)
    audit = AuditLog(settings.audit_log_path, master)
    now = datetime.now(UTC)

    if args.keys_cmd == "status":
        status = store.load().status(now, settings.keys_min_ahead)
        lines = []
        for purpose in (IP, COOKIE):
            s = status[purpose]
            lines.append(
                f"{purpose:6} active={s['active'] or '-'} until={s['active_until'] or '-'} "
                f"ahead={s['pending']} covered_until={s['covered_until']} retired={s['retired']} "
                f"destroyed={s['destroyed']}"
            )
        lines += [f"WARNING: {w}" for w in status["warnings"]]
        emit(args, status, "\n".join(lines))
        return 1 if args.check and not status["ok"] else 0

    if args.keys_cmd == "rotate":
        ahead = settings.keys_ahead if args.ahead is None else args.ahead
        added = store.rotate(ahead, now)
        ids = [e.key_id for e in added]
        audit.append("keys.rotate", ahead=ahead, added=ids)
        emit(args, {"added": ids, "ahead": ahead}, f"added {len(ids)} epoch(s): {', '.join(ids) or 'none needed'}")
        return 0

    if args.keys_cmd == "destroy":
        try:
            before = date.fromisoformat(args.before)
        except ValueError:
            raise CliError("--before must be a date, YYYY-MM-DD") from None
        destroyed, skipped = store.destroy(before, now, purpose=args.purpose)
        ids = [e.key_id for e in destroyed]
        audit.append("keys.destroy", before=args.before, purpose=args.purpose, destroyed=ids)
        data = {"destroyed": ids, "skipped_live": [e.key_id for e in skipped]}
        human = f"destroyed {len(ids)} key(s): {', '.join(ids) or 'none'}"
        if skipped:
            human += f"\nskipped {len(skipped)} epoch(s) still active or pending: {', '.join(data['skipped_live'])}"
        emit(args, data, human)
        return 0
    raise CliError(f"unknown keys command {args.keys_cmd}")


# --- spii audit ------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    result = AuditLog(settings.audit_log_path, master_key(settings)).verify()
    data = {"ok": result.ok, "entries": result.lines, "problem": result.problem, "line": result.line_no}
    human = (
        f"audit log OK: {result.lines} entries"
        if result.ok
        else f"audit log FAILED at line {result.line_no}: {result.problem}"
    )
    emit(args, data, human)
    return 0 if result.ok else 1


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spii", description="Privacy-preserving web analytics collector.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (default SPII_DATA_DIR or ./var)")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    keys = sub.add_parser("keys", help="rotate, inspect and destroy IP-encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_cmd", required=True)
    status = keys_sub.add_parser("status", parents=[common], help="active key, epochs ahead, warnings")
    status.add_argument("--check", action="store_true", help="exit 1 when fewer than 2 epochs are ahead")
    rotate = keys_sub.add_parser("rotate", parents=[common], help="create future epochs ahead of time")
    rotate.add_argument("--ahead", type=int, help="future epochs to keep (default 7)")
    destroy = keys_sub.add_parser("destroy", parents=[common], help="shred keys of epochs that ended before a date")
    destroy.add_argument("--before", required=True, help="YYYY-MM-DD (UTC)")
    destroy.add_argument("--purpose", choices=[IP, COOKIE], default=IP, help="key series (default ip)")
    keys.set_defaults(func=cmd_keys)

    audit = sub.add_parser("audit", help="check the audit log")
    audit_sub = audit.add_subparsers(dest="audit_cmd", required=True)
    audit_sub.add_parser("verify", parents=[common], help="verify the MAC chain of the audit log")
    audit.set_defaults(func=cmd_audit)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except (CliError, KeyringError) as exc:
        print(f"spii: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
