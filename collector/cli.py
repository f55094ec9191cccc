"""The `spii` command line (also `python -m collector`)."""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from typing import TYPE_CHECKING

# Only what every command needs is imported here: each command imports its own modules when it
# runs, so `spii --help` or `spii clients list` does not load the web server and the store.
from collector.commands import demo as demo_command
from collector.commands import report as report_command
from collector.commands import imports as imports_command
from collector.commands import mail as mail_command
from collector.commands import subject as subject_command
from collector.errors import UserError
from collector.logs import setup_logging

if TYPE_CHECKING:
    from collector.config import Settings

log = logging.getLogger("spii.cli")


class CliError(UserError):
    """An error worth one clear line on stderr and exit status 2."""


# --- shared plumbing -------------------------------------------------------------------------


FLAGS = {"data_dir": "data_dir", "clickhouse": "clickhouse_url", "host": "host", "port": "port", "workers": "workers",
         "clickhouse_cluster": "clickhouse_cluster"}
# SPII_* names read outside the settings object, and what each does (docs/configuration.md lists them)
OTHER_ENV = {
    "SPII_TOKEN": "the analyst token `spii report` and `spii clients status` send (instead of `--token`)",
    "SPII_PURE_PYTHON": "`1` at install: do not compile the hot path (no C compiler needed); `1` at run time: run it as plain "
                        "Python even where it is compiled (the benchmarks' baseline). Same behaviour, more CPU per event",
    "SPII_REBUILD": "`1` at install: compile the hot path even when the checkout already holds it compiled from the same source",
    "SPII_SKIP_BROWSER_INSTALL": "`1`: `scripts/test.sh` does not install Chromium (the browser tests skip)",
}


def load_settings(args: argparse.Namespace) -> Settings:
    """The settings from SPII_* and the flags; a bad value is one line naming its variable or
    flag, and a SPII_* name that is no setting is warned about with the closest real name."""
    from pydantic import ValidationError

    from collector.config import Settings

    overrides = {field: getattr(args, flag) for flag, field in FLAGS.items() if getattr(args, flag, None) is not None}
    warn_unknown_env()
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            field = str(err["loc"][0]) if err["loc"] else "?"
            flag = next((f for f, target in FLAGS.items() if target == field), field)
            where = f"--{flag.replace('_', '-')}" if field in overrides else f"SPII_{field.upper()}"
            problems.append(f"{where}: {err['msg']}")
        raise CliError("invalid setting: " + "; ".join(problems)) from None


_warned = False


def warn_unknown_env() -> None:
    from collector.config import Settings

    global _warned
    if _warned:
        return
    _warned = True
    known = {f"SPII_{name.upper()}" for name in Settings.model_fields} | set(OTHER_ENV)
    for name in sorted(n for n in os.environ if n.startswith("SPII_") and n not in known):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(f"spii: warning: {name} is not a setting and is ignored{hint}", file=sys.stderr)




def emit(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2, default=str) if getattr(args, "json", False) else human)


# --- spii keys -------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace) -> int:
    from collector.audit import AuditLog, default_actor
    from collector.privacy.keyring import COOKIE, IP, Keyring
    from collector.privacy.setup import keyring_store
    from collector.privacy.setup import load_master_key as master_key
    from collector.subjects.retention import longest_retention, next_destruction, prune
    from collector.tenants import RegistryStore

    settings = load_settings(args)
    before = None
    if args.keys_cmd == "destroy":  # the arguments first, then the files
        try:
            before = date.fromisoformat(args.before)
        except ValueError:
            raise CliError("--before must be a date, YYYY-MM-DD") from None
    if args.keys_cmd in ("status", "prune", "destroy") and not settings.keyring_path.exists():
        missing = f"no keyring at {settings.keyring_path} (is --data-dir / SPII_DATA_DIR the collector's?); `spii serve` or `spii keys rotate` creates it"
        if args.keys_cmd != "status":
            raise CliError(missing)
        status = Keyring([], None).status(datetime.now(UTC), settings.keys_min_ahead)  # type: ignore[arg-type] - nothing to unwrap
        status["warnings"].insert(0, missing)
        emit(args, status, "\n".join(f"WARNING: {w}" for w in status["warnings"]))
        return 1 if args.check else 0
    master = master_key(settings)
    store = keyring_store(settings, master)
    audit = AuditLog(settings.audit_log_path, master)
    now = datetime.now(UTC)

    if args.keys_cmd == "status":
        keyring = store.load()
        status = keyring.status(now, settings.keys_min_ahead)
        retention = longest_retention(RegistryStore(settings.clients_path).load())
        status["next_destruction"] = next_destruction(keyring, retention, settings.key_grace_days)
        status["destruction_policy"] = {"longest_retention_days": retention, "grace_days": settings.key_grace_days}
        lines = []
        for purpose in (IP, COOKIE):
            s = status[purpose]
            lines.append(
                f"{purpose:6} active={s['active'] or '-'} until={s['active_until'] or '-'} "
                f"ahead={s['pending']} covered_until={s['covered_until']} retired={s['retired']} "
                f"destroyed={s['destroyed']} next_destruction={status['next_destruction'][purpose] or '-'}"
            )
        lines.append(f"keys are destroyed {retention} days (longest client retention) + {settings.key_grace_days} days grace after their epoch ends")
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

    if args.keys_cmd == "prune":
        registry = RegistryStore(settings.clients_path).load()
        ids = prune(store, registry, settings.key_grace_days, audit, default_actor(), now)
        emit(args, {"destroyed": ids, "longest_retention_days": longest_retention(registry), "grace_days": settings.key_grace_days},
             f"destroyed {len(ids)} key(s) past their date: {', '.join(ids) or 'none due'}")
        return 0

    if args.keys_cmd == "destroy" and before is not None:
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


# --- spii serve / clients ---------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from collector.build_info import hot_path
    from collector.files import HeldByAnother, hold_exclusively
    from collector.http.app import serve

    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    hot = hot_path()
    if hot.stale:  # the compiled code is not the source: an edited checkout not reinstalled
        raise CliError(f"cannot serve: {hot.describe()}")
    settings = load_settings(args)
    if settings.workers > 1 and settings.embedded:
        raise CliError("--workers > 1 needs a ClickHouse server (--clickhouse http(s)://...): embedded chDB allows one process per store")
    try:
        hold_exclusively(settings.serve_lock_path)  # one collector per data dir: its spool and embedded store
    except HeldByAnother as held:
        raise CliError(f"another spii serve uses the data dir {settings.data_dir} (pid {held.pid or 'unknown'}): "
                       "stop it first, or give this one its own --data-dir") from None
    try:
        if settings.workers > 1:
            from collector.http.workers import supervise

            return supervise(settings)
        serve(settings)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise CliError(f"cannot listen on {settings.host}:{settings.port}: {os.strerror(exc.errno)} "
                           "(another program there? choose --port / SPII_PORT, --host / SPII_HOST)") from None
        raise
    return 0


def _listed(text: str | None) -> list[str] | None:
    """A comma-separated option as a list ('none' or '': an empty one)."""
    if text is None:
        return None
    return [] if text.strip().lower() in ("", "none") else [part.strip() for part in text.split(",") if part.strip()]


def _client_json(client: Any) -> dict[str, Any]:
    data = client.model_dump(exclude={"tokens", "shares"})  # (never a hash of a token or a link's password)
    data["tokens"] = [t.prefix for t in client.tokens]
    data["shares"] = [s.share_id for s in client.shares]
    return data


def cmd_clients(args: argparse.Namespace) -> int:
    from collector.commands.api import ApiError, connect
    from collector.tenants import RegistryError, RegistryStore

    settings = load_settings(args)
    store = RegistryStore(settings.clients_path)
    if getattr(args, "dp_budget", None):  # a budget needs OpenDP at its first export: say so now
        from collector.reports.privacy_budget import require_opendp

        require_opendp()
    try:
        if args.clients_cmd == "add":
            options = {"retention_days": args.retention_days, "cookies": args.cookies, "allow_params": args.allow_param or [], "k": args.k,
                       "rounding": args.round, "rate": args.rate, "burst": args.burst,
                       "perturb": None if args.perturb is None else args.perturb == "on", "dp_budget": args.dp_budget,
                       "dp_export_epsilon": args.dp_export_epsilon}
            client, token = store.add(args.name, args.domain, **{k: v for k, v in options.items() if v is not None})
            _print_added(args, settings, client, token)
        elif args.clients_cmd == "list":
            clients = store.load().clients
            emit(args, [_client_json(c) for c in clients], "\n".join(
                f"{c.client_id}  {c.name:20} {','.join(c.domains):40} retention={c.retention_days}d cookies={c.cookies} k={c.k} tokens={len(c.tokens)}"
                for c in clients) or "no clients")
        elif args.clients_cmd == "token":
            client, token = store.new_token(args.name)
            print(json.dumps({"client_id": client.client_id, "token": token}, indent=2))
        elif args.clients_cmd == "revoke-token":
            removed = store.revoke_token(args.name, args.prefix)
            emit(args, {"revoked": removed}, f"revoked {removed} token(s)")
        elif args.clients_cmd == "status":
            try:
                status = connect(args.server, args.token, settings, analyst=True).get("/api/v1/stats/receiving", {"site_id": args.name})
            except ApiError as exc:
                raise CliError(str(exc)) from None
            emit(args, status, f"{args.name}: receiving events: {status['events_last_hour']:,} in the last hour, "
                               f"{status['events_today']:,} today (events, not visitors; as of {status['as_of']})")
        elif args.clients_cmd == "sql-access":
            _sql_access(args, settings, store)
        elif args.clients_cmd == "update":
            changes = {field: value for field, value in (
                ("retention_days", args.retention_days), ("cookies", args.cookies), ("allow_params", args.allow_param), ("k", args.k),
                ("rounding", args.round), ("rate", args.rate), ("burst", args.burst),
                ("perturb", None if args.perturb is None else args.perturb == "on"), ("dp_budget", args.dp_budget),
                ("dp_export_epsilon", args.dp_export_epsilon), ("email_reports", _listed(args.email_report)),
                ("email_to", _listed(args.email_to)), ("alert_spike_visitors", args.alert_spike),
                ("alert_drop_hours", args.alert_drop_hours), ("alert_cooldown_hours", args.alert_cooldown_hours)) if value is not None}
            for off in ("alert_spike_visitors", "alert_drop_hours"):
                if changes.get(off) == 0:
                    changes[off] = None  # 0 turns the alert off
            if changes.get("dp_budget") == 0:
                changes["dp_budget"] = None  # --dp-budget 0 turns differential privacy off
            if not changes:
                raise CliError("nothing to change: give at least one option (see spii clients update --help)")
            client = store.update(args.name, **changes)
            emit(args, _client_json(client), f"updated {client.name}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        elif args.clients_cmd in ("share", "unshare", "shares"):
            _shares(args, settings, store)
        elif args.clients_cmd == "remove":
            client = store.remove(args.name)
            emit(args, {"removed": client.client_id}, f"removed {client.name} ({client.client_id})")
    except (RegistryError, ValueError) as exc:
        raise CliError(str(exc).splitlines()[0] if not hasattr(exc, "errors") else _pydantic_message(exc)) from None
    return 0


def _shares(args: argparse.Namespace, settings: Settings, store: Any) -> None:
    """spii clients share | shares | unshare: read-only dashboard links (http/share.py)."""
    if args.clients_cmd == "share":
        password = _read_password() if args.password else None
        client, share, token = store.share(args.name, args.expires, password)
        url = f"{(args.server or settings.collector_url).rstrip('/')}/share/{token}"
        emit(args, {"client_id": client.client_id, "share_id": share.share_id, "url": url, "expires": share.expires,
                    "password": share.password is not None},
             f"read-only dashboard of {client.name} (link {share.share_id}"
             f"{', until ' + str(share.expires) if share.expires else ''}{', password needed' if share.password else ''}; shown once):\n{url}\n"
             f"revoke with: spii clients unshare {client.name} {share.share_id}")
    elif args.clients_cmd == "shares":
        client = store.load().find(args.name)
        if client is None:
            raise CliError(f"no client named {args.name!r}")
        rows = [{"share_id": s.share_id, "created_at": s.created_at, "expires": s.expires, "password": s.password is not None,
                 "expired": s.expired()} for s in client.shares]
        emit(args, rows, "\n".join(f"{r['share_id']}  created {r['created_at']}  expires {r['expires'] or 'never'}"
                                   f"{'  (expired)' if r['expired'] else ''}{'  password' if r['password'] else ''}" for r in rows)
             or f"{client.name} has no shared links")
    else:
        if not args.all and not args.share_id:
            raise CliError("name the link to revoke (spii clients shares NAME lists them), or --all")
        removed = store.unshare(args.name, None if args.all else args.share_id)
        emit(args, {"revoked": removed}, f"revoked {removed} shared link(s)")


def _read_password() -> str:
    """The link's password: from a terminal twice (not echoed), else one line of stdin."""
    import getpass

    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password for the link: ")
        if getpass.getpass("again: ") != password:
            raise CliError("the passwords differ")
    if len(password) < 8:
        raise CliError("the password needs at least 8 characters")
    return password


def _print_added(args: argparse.Namespace, settings: Settings, client: Any, token: str | None) -> None:
    """JSON for scripts (--json, or stdout not a terminal); sentences and the next step for people."""
    data = {"client_id": client.client_id, "name": client.name, "domains": client.domains}
    if token is None:
        data["existed"] = True
    else:
        data["token"] = token
    if args.json or not sys.stdout.isatty():
        print(json.dumps(data, indent=2))
        return
    if token is None:
        print(f"client {client.name} ({client.client_id}) exists already for {', '.join(client.domains)}: nothing changed.\n"
              f"Its tokens are as they were; `spii clients token {client.name}` issues another.")
        return
    url = settings.collector_url
    print(f"added client {client.name} ({client.client_id}) for {', '.join(client.domains)}\n"
          f"analyst token (shown once, keep it): {token}\n\n"
          f"next:\n  1. spii serve   (if it is not running)\n"
          f"  2. add to your pages: <script defer data-domain=\"{client.domains[0]}\" src=\"{url}/js/spii.js\"></script>\n"
          f"  3. open {url}/dashboard/{client.name} and log in with the token")


def _sql_access(args: argparse.Namespace, settings: Settings, store: Any) -> None:
    """SQL on stdout (pipe it to clickhouse-client); the new user's password once on stderr,
    so it never lands in a saved .sql file or a shell history."""
    from collector.store.access import access_sql

    client = store.load().find(args.name)
    if client is None:
        raise CliError(f"no client named {args.name!r}")
    user = args.user or "spii_analyst_" + re.sub(r"[^A-Za-z0-9_]", "_", client.name)
    password = secrets.token_urlsafe(24)
    sql = access_sql(client.client_id, user, password, cluster=args.cluster or settings.clickhouse_cluster)
    print(sql.script(client.name), end="")
    print(f"spii: password for ClickHouse user {user} (shown once): {password}", file=sys.stderr)


def _pydantic_message(exc: Any) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))


# --- spii goals / funnels ---------------------------------------------------------------------


def cmd_goals(args: argparse.Namespace) -> int:
    """Goals and funnels live in the client registry: these commands edit that file, and the
    running collector rereads it within a second."""
    from collector.tenants import RegistryError, RegistryStore

    store = RegistryStore(load_settings(args).clients_path)
    try:
        if args.command == "goals" and args.goals_cmd == "add":
            goal = store.add_goal(args.client, event=args.event, page=args.page, revenue=args.revenue)
            emit(args, goal.model_dump(), f"added goal {goal.name!r} ({goal.goal_id})" + (f", revenue in {goal.revenue}" if goal.revenue else ""))
        elif args.command == "goals" and args.goals_cmd == "remove":
            goal = store.remove_goal(args.client, args.goal)
            emit(args, goal.model_dump(), f"removed goal {goal.name!r} ({goal.goal_id})")
        elif args.command == "goals":
            client = _registered(store, args.client)
            emit(args, [g.model_dump() | {"name": g.name} for g in client.goals],
                 "\n".join(f"{g.goal_id}  {g.name}" + (f"  (revenue {g.revenue})" if g.revenue else "") for g in client.goals) or "no goals")
        elif args.funnels_cmd == "add":
            funnel = store.add_funnel(args.client, args.name, args.step)
            emit(args, funnel.model_dump(), f"added funnel {funnel.name!r} of {len(funnel.steps)} steps")
        elif args.funnels_cmd == "remove":
            funnel = store.remove_funnel(args.client, args.name)
            emit(args, funnel.model_dump(), f"removed funnel {funnel.name!r}")
        else:
            client = _registered(store, args.client)
            names = {g.goal_id: g.name for g in client.goals}
            emit(args, [f.model_dump() for f in client.funnels],
                 "\n".join(f"{f.name}: " + " -> ".join(names.get(s, s) for s in f.steps) for f in client.funnels) or "no funnels")
    except (RegistryError, ValueError) as exc:
        raise CliError(str(exc).splitlines()[0] if not hasattr(exc, "errors") else _pydantic_message(exc)) from None
    return 0


def _registered(store: Any, name: str) -> Any:
    client = store.load().find(name)
    if client is None:
        raise CliError(f"no client {name!r}")
    return client


# --- spii audit ------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    from collector.audit import AuditLog
    from collector.privacy.setup import load_master_key as master_key

    settings = load_settings(args)
    if not settings.audit_log_path.exists() and not settings.audit_log_path.with_name("audit.log.anchor").exists():
        raise CliError(f"no audit log at {settings.audit_log_path} (is --data-dir / SPII_DATA_DIR the collector's?)")
    result = AuditLog(settings.audit_log_path, master_key(settings)).verify()
    data = {"ok": result.ok, "entries": result.lines, "problem": result.problem, "line": result.line_no}
    human = (
        f"audit log OK: {result.lines} entries"
        if result.ok
        else f"audit log FAILED at line {result.line_no}: {result.problem}"
    )
    emit(args, data, human)
    return 0 if result.ok else 1


def over_api(run: Callable[[argparse.Namespace, Settings], int]) -> Callable[[argparse.Namespace], int]:
    """A command that talks to the running collector: its HTTP errors become one clear line."""

    def command(args: argparse.Namespace) -> int:
        from collector.commands.api import ApiError

        try:
            return run(args, load_settings(args))
        except ApiError as exc:
            raise CliError(str(exc)) from None

    return command


def cmd_demo(args: argparse.Namespace) -> int:
    return demo_command.run(args, load_settings(args))


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spii", description="Privacy-preserving web analytics collector.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (default SPII_DATA_DIR or ./var)")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    serve = sub.add_parser("serve", help="run the collector")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--data-dir", help="data directory (default SPII_DATA_DIR or ./var)")
    serve.add_argument("--clickhouse", help="ClickHouse DSN (default chdb://<data dir>/clickhouse)")
    serve.add_argument("--workers", type=int, help="processes sharing the port (server mode only)")
    serve.add_argument("--clickhouse-cluster", help="ClickHouse cluster name: replicated tables + Distributed spii.events")
    serve.set_defaults(func=cmd_serve)

    clients = sub.add_parser("clients", help="register client websites and their analyst tokens")
    clients_sub = clients.add_subparsers(dest="clients_cmd", required=True)
    add = clients_sub.add_parser("add", parents=[common], help="register a client; prints its id and a one-time token")
    add.add_argument("name")
    add.add_argument("--domain", action="append", required=True, help="site domain (repeatable); subdomains included")
    add.add_argument("--retention-days", type=int, default=395)
    add.add_argument("--cookies", choices=["off", "consent"], default="off")
    add.add_argument("--allow-param", action="append", help="query parameter to keep besides utm_* (repeatable)")
    add.add_argument("--k", type=int, default=10, help="small-count suppression threshold (>= 5)")
    add.add_argument("--round", type=int, default=0, choices=(0, 5, 10), help="round report counts to a multiple of this")
    add.add_argument("--rate", type=float, help="events/s this client may send per node (default SPII_CLIENT_RATE; 0: no limit)")
    add.add_argument("--burst", type=float, help="events at once above the rate (default SPII_CLIENT_BURST)")
    add.add_argument("--perturb", choices=["on", "off"], help="cell-key noise on every report count (default on)")
    add.add_argument("--dp-budget", type=float, help="differentially private exports: epsilon per month (default off)")
    add.add_argument("--dp-export-epsilon", type=float, help="epsilon each export spends (default 1)")
    update = clients_sub.add_parser("update", parents=[common], help="change a client's settings (tokens and id are kept)")
    update.add_argument("name", help="client name or id")
    update.add_argument("--retention-days", type=int)
    update.add_argument("--cookies", choices=["off", "consent"])
    update.add_argument("--allow-param", action="append", help="query parameters to keep besides utm_* (replaces the list)")
    update.add_argument("--k", type=int, help="small-count suppression threshold (>= 5)")
    update.add_argument("--round", type=int, choices=(0, 5, 10))
    update.add_argument("--rate", type=float, help="events/s per node (0: no limit)")
    update.add_argument("--burst", type=float, help="events at once above the rate")
    update.add_argument("--perturb", choices=["on", "off"], help="cell-key noise on every report count")
    update.add_argument("--dp-budget", type=float, help="differentially private exports: epsilon per month (0: off)")
    update.add_argument("--dp-export-epsilon", type=float, help="epsilon each export spends")
    update.add_argument("--email-report", metavar="KINDS", help="e-mailed reports: weekly, monthly, weekly,monthly or none")
    update.add_argument("--email-to", metavar="ADDRESSES", help="recipients of reports and alerts, comma-separated (none: nobody)")
    update.add_argument("--alert-spike", type=int, metavar="VISITORS", help="alert when current visitors reach this (0: off)")
    update.add_argument("--alert-drop-hours", type=float, metavar="HOURS", help="alert after this many hours without an event (0: off)")
    update.add_argument("--alert-cooldown-hours", type=float, metavar="HOURS", help="at most one alert of a kind per this many hours")
    clients_sub.add_parser("list", parents=[common], help="list clients")
    token = clients_sub.add_parser("token", parents=[common], help="issue another analyst token")
    token.add_argument("name", help="client name or id")
    receiving = clients_sub.add_parser("status", parents=[common], help="is data arriving? events in the last hour and today (running collector)")
    receiving.add_argument("name", help="client id, name or domain")
    receiving.add_argument("--server", help="collector URL (default SPII_SERVER_URL, else http://SPII_HOST:SPII_PORT)")
    receiving.add_argument("--token", help="an analyst token of that client, or the admin token (default SPII_TOKEN / SPII_ADMIN_TOKEN)")
    revoke = clients_sub.add_parser("revoke-token", parents=[common], help="revoke tokens by prefix")
    revoke.add_argument("name", help="client name or id")
    revoke.add_argument("prefix", help="first characters of the token")
    access = clients_sub.add_parser("sql-access", parents=[common],
                                    help="print SQL creating a read-only ClickHouse user limited to this client's rows")
    access.add_argument("name", help="client name or id")
    access.add_argument("--user", help="ClickHouse user name (default spii_analyst_<client name>)")
    access.add_argument("--cluster", help="add ON CLUSTER (default SPII_CLICKHOUSE_CLUSTER)")
    share = clients_sub.add_parser("share", parents=[common], help="print a read-only dashboard link (no token needed to open it)")
    share.add_argument("name", help="client name or id")
    share.add_argument("--expires", type=date.fromisoformat, help="last day the link opens (YYYY-MM-DD, UTC; default: until revoked)")
    share.add_argument("--password", action="store_true", help="the link also needs a password (asked for; or one line on stdin)")
    share.add_argument("--server", help="the collector's public URL for the link (default SPII_SERVER_URL, else http://SPII_HOST:SPII_PORT)")
    shares = clients_sub.add_parser("shares", parents=[common], help="list a client's shared links")
    shares.add_argument("name", help="client name or id")
    unshare = clients_sub.add_parser("unshare", parents=[common], help="revoke a shared link (or --all)")
    unshare.add_argument("name", help="client name or id")
    unshare.add_argument("share_id", nargs="?", help="the link's id (spii clients shares NAME)")
    unshare.add_argument("--all", action="store_true", help="revoke every shared link of the client")
    remove = clients_sub.add_parser("remove", parents=[common], help="remove a client")
    remove.add_argument("name", help="client name or id")
    clients.set_defaults(func=cmd_clients)

    keys = sub.add_parser("keys", help="rotate, inspect and destroy IP-encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_cmd", required=True)
    status = keys_sub.add_parser("status", parents=[common], help="active key, epochs ahead, warnings")
    status.add_argument("--check", action="store_true", help="exit 1 when fewer than 2 epochs are ahead")
    rotate = keys_sub.add_parser("rotate", parents=[common], help="create future epochs ahead of time")
    rotate.add_argument("--ahead", type=int, help="future epochs to keep (default 7)")
    destroy = keys_sub.add_parser("destroy", parents=[common], help="shred keys of epochs that ended before a date")
    destroy.add_argument("--before", required=True, help="YYYY-MM-DD (UTC)")
    destroy.add_argument("--purpose", choices=["ip", "cookie"], default="ip", help="key series (default ip)")
    keys_sub.add_parser("prune", parents=[common], help="destroy keys whose rows have all expired (longest retention + grace)")
    keys.set_defaults(func=cmd_keys)

    goals = sub.add_parser("goals", help="conversion goals of a client: custom events or page patterns")
    goals_sub = goals.add_subparsers(dest="goals_cmd", required=True)
    goal_add = goals_sub.add_parser("add", parents=[common], help="add a goal")
    goal_add.add_argument("client", help="client id or name")
    which = goal_add.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", help="a custom event's name (or transaction, contact)")
    which.add_argument("--page", help="a path pattern: /thanks, /blog/* (one segment), /docs/** (any)")
    goal_add.add_argument("--revenue", help="a revenue goal: the event's revenue in this currency (e.g. GBP)")
    goals_list = goals_sub.add_parser("list", parents=[common], help="list a client's goals")
    goals_list.add_argument("client", help="client id or name")
    goal_remove = goals_sub.add_parser("remove", parents=[common], help="remove a goal")
    goal_remove.add_argument("client", help="client id or name")
    goal_remove.add_argument("goal", help="the goal's id or name")
    goals.set_defaults(func=cmd_goals)
    funnels = sub.add_parser("funnels", help="funnels of 2-8 goals reached in order within one visit")
    funnels_sub = funnels.add_subparsers(dest="funnels_cmd", required=True)
    funnel_add = funnels_sub.add_parser("add", parents=[common], help="add a funnel")
    funnel_add.add_argument("client", help="client id or name")
    funnel_add.add_argument("name", help="the funnel's name")
    funnel_add.add_argument("--step", action="append", required=True, help="a goal's id or name, in order (2-8 times)")
    funnels_list = funnels_sub.add_parser("list", parents=[common], help="list a client's funnels")
    funnels_list.add_argument("client", help="client id or name")
    funnel_remove = funnels_sub.add_parser("remove", parents=[common], help="remove a funnel")
    funnel_remove.add_argument("client", help="client id or name")
    funnel_remove.add_argument("name", help="the funnel's name")
    funnels.set_defaults(func=cmd_goals)

    audit = sub.add_parser("audit", help="check the audit log")
    audit_sub = audit.add_subparsers(dest="audit_cmd", required=True)
    audit_sub.add_parser("verify", parents=[common], help="verify the MAC chain of the audit log")
    audit.set_defaults(func=cmd_audit)

    report_command.add_parser(sub, common)
    mail_command.add_parser(sub, common)
    imports_command.add_parser(sub, common)
    sub.choices["import"].set_defaults(func=over_api(imports_command.run))
    sub.choices["reports"].set_defaults(func=over_api(mail_command.run))
    sub.choices["report"].set_defaults(func=over_api(report_command.run))
    subject_command.add_parsers(sub, common)
    sub.choices["subject"].set_defaults(func=over_api(subject_command.run_subject))
    sub.choices["disclose"].set_defaults(func=over_api(subject_command.run_disclose))
    demo_command.add_parser(sub)
    sub.choices["demo"].set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO, json_lines=False)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"spii: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback that may quote values
        if args.verbose:
            raise
        print(f"spii: error: unexpected {type(exc).__name__} (run with -v to see where; please report it)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
