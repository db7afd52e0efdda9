"""`sessions`: the session service from a terminal (ls, show, history [--follow] [--metadata K:V], rm, stats).

Configuration from the environment (flags override): SESSIONS_URL (default http://127.0.0.1:3000),
SESSIONS_TOKEN (a bearer token, deployed), or SESSIONS_TENANT / SESSIONS_USER / SESSIONS_ROLES
(the dev server's identity headers); SESSIONS_ACT_AS (a `service` caller acting for that user).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sessions_client._core import DEFAULT_URL, DevIdentity, __version__
from sessions_client._sync import SessionsClient
from sessions_client.errors import SessionsError
from sessions_client.models import Event, Session, SessionSummary, Stats


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    pairs = getattr(args, "metadata", None) or []
    if len(dict(pairs)) < len(set(pairs)):
        parser.error("--metadata names a key twice with different values: no event holds both")
    return args


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sessions", description="The session service from a terminal.")
    parser.add_argument("--version", action="version", version=f"sessions-client {__version__}")
    parser.add_argument("--url", default=environ.get("SESSIONS_URL", DEFAULT_URL), help="API base URL (SESSIONS_URL)")
    parser.add_argument("--token", default=environ.get("SESSIONS_TOKEN"), help="bearer token (SESSIONS_TOKEN)")
    parser.add_argument("--tenant", default=environ.get("SESSIONS_TENANT"), help="dev server tenant (SESSIONS_TENANT)")
    parser.add_argument("--user", default=environ.get("SESSIONS_USER"), help="dev server user (SESSIONS_USER)")
    parser.add_argument("--roles", default=environ.get("SESSIONS_ROLES"), help="dev server roles, comma list")
    parser.add_argument("--as-user", default=environ.get("SESSIONS_ACT_AS"), help="act for this user (service role)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    # --json is taken after the subcommand too (`sessions ls --json`): every subcommand has it, and
    # sets it only when given (SUPPRESS), so `sessions --json ls` is not reset to False by `ls`
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON instead of tables")
    commands = parser.add_subparsers(dest="command", required=True)
    add_command = functools.partial(commands.add_parser, parents=[output])

    ls = add_command("ls", help="list sessions, newest first")
    ls.add_argument("--status", help="comma list: active,paused,completed,crashed")
    ls.add_argument("--app-name")
    ls.add_argument("--agent-id")
    ls.add_argument("--type", dest="session_type")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--all", action="store_true", help="every session, however many")

    show = add_command("show", help="one session")
    show.add_argument("session_id")

    history = add_command("history", help="a session's events, oldest first")
    history.add_argument("session_id")
    history.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new events (Ctrl-C stops; with --json: JSON Lines)"
    )
    history.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow")
    history.add_argument("--type", dest="event_type")
    history.add_argument(
        "--metadata",
        action="append",
        type=_metadata_pair,
        metavar="KEY:VALUE",
        help="only events whose metadata holds the pair (repeatable: every pair; the key ends at the first ':')",
    )
    history.add_argument("--payload", action="store_true", help="include payloads")

    rm = add_command("rm", help="delete sessions")
    rm.add_argument("session_ids", nargs="+", metavar="session_id")

    stats = add_command("stats", help="counts and totals")
    stats.add_argument("--tenant-scope", action="store_true", help="the whole tenant (admins)")
    return parser


def _metadata_pair(text: str) -> tuple[str, str]:
    key, colon, value = text.partition(":")
    if not colon or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY:VALUE")
    return key, value


def _metadata_filter(args: argparse.Namespace) -> dict[str, str] | None:
    """--metadata pairs as the filter (parse_args refused a key given two values)."""
    return dict(args.metadata or []) or None


def client_from(args: argparse.Namespace) -> SessionsClient:
    identity = None
    if args.user:
        roles = tuple(role.strip() for role in (args.roles or "").split(",") if role.strip())
        identity = DevIdentity(args.user, args.tenant or None, roles)
    return SessionsClient(args.url, token=args.token or None, identity=identity, user_id=args.as_user or None)


class Output:
    """Tables through rich (the `cli` extra), JSON with --json."""

    def __init__(self, as_json: bool, write: Callable[[str], None] | None = None) -> None:
        self.as_json = as_json
        self._write = write or print

    def write(self, line: str) -> None:
        self._write(line)

    def json(self, value: Any) -> None:
        self._write(json.dumps(value, indent=2, default=str, ensure_ascii=False))

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:  # plain columns without the cli extra
            self._write("\t".join(columns))
            for row in rows:
                self._write("\t".join(_cell(cell) for cell in row))
            return
        table = Table(*columns, title=title, title_justify="left")
        for row in rows:
            table.add_row(*(_cell(cell) for cell in row))
        console = Console(width=160, soft_wrap=False)
        with console.capture() as captured:
            console.print(table)
        self._write(captured.get().rstrip("\n"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _short(text: str | None, width: int = 80) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def cmd_ls(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    found: list[SessionSummary] = []
    for session in client.iter_sessions(
        page_size=100 if args.all else min(100, max(1, args.limit)),
        status=args.status,
        app_name=args.app_name,
        agent_id=args.agent_id,
        session_type=args.session_type,
    ):
        found.append(session)
        if not args.all and len(found) >= args.limit:
            break
    if out.as_json:
        out.json([session.model_dump(mode="json") for session in found])
        return
    out.table(
        f"{len(found)} session(s)",
        ["session_id", "status", "type", "title", "app", "events", "tokens", "updated"],
        [
            [
                s.session_id,
                s.status,
                s.session_type,
                s.title,
                s.app_name,
                s.usage.event_count,
                s.usage.tokens_used,
                s.updated_at,
            ]
            for s in found
        ],
    )


def cmd_show(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    session: Session = client.get_session(args.session_id)
    if out.as_json:
        out.json(session.model_dump(mode="json"))
        return
    out.table(
        f"session {session.session_id}",
        ["field", "value"],
        [[key, value] for key, value in session.model_dump().items()],
    )


def _event_rows(events: Sequence[Event]) -> list[list[Any]]:
    return [
        [e.seq, e.timestamp or e.created_at, e.type, e.role, _short(e.content), e.usage.tokens if e.usage else None]
        for e in events
    ]


EVENT_COLUMNS = ["seq", "time", "type", "role", "content", "tokens"]


def _print_events(out: Output, events: Sequence[Event], title: str | None) -> None:
    if not events:
        return
    if out.as_json:  # JSON Lines while following: one event per line
        for event in events:
            out.write(json.dumps(event.model_dump(mode="json", exclude_none=True), ensure_ascii=False))
    else:
        out.table(title, EVENT_COLUMNS, _event_rows(events))


def _newer_than(client: SessionsClient, args: argparse.Namespace, last_seq: int) -> list[Event]:
    """Events past `last_seq`, oldest first: the newest pages (desc by seq) until one reaches back to it."""
    newer: list[Event] = []
    for event in client.iter_history(
        args.session_id,
        page_size=100,
        order="desc",
        type=args.event_type,
        metadata=_metadata_filter(args),
        include_payload=args.payload or None,
    ):
        if event.seq <= last_seq:
            break
        newer.append(event)
    return newer[::-1]


def cmd_history(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    events = list(
        client.iter_history(
            args.session_id,
            page_size=100,
            type=args.event_type,
            metadata=_metadata_filter(args),
            include_payload=args.payload or None,
        )
    )
    if out.as_json and not args.follow:
        out.json([event.model_dump(mode="json", exclude_none=True) for event in events])
        return
    _print_events(out, events, f"{len(events)} event(s) of {args.session_id}")
    if not args.follow:
        return
    last_seq = max((event.seq for event in events), default=0)
    while True:
        time.sleep(args.interval)
        newest = client.get_history(args.session_id, limit=1, order="desc").events
        if newest and newest[0].seq < last_seq:  # rewound: the history lost its tail
            last_seq = newest[0].seq
            if out.as_json:
                out.write(json.dumps({"rewound_to_seq": last_seq}))
            else:
                out.table(None, ["rewound to seq"], [[last_seq]])
            continue
        fresh = _newer_than(client, args, last_seq)
        if fresh:
            _print_events(out, fresh, None)
            last_seq = fresh[-1].seq


def cmd_rm(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    for session_id in args.session_ids:
        client.delete_session(session_id)
    if out.as_json:
        out.json({"deleted": args.session_ids})
    else:
        out.table(None, ["deleted"], [[session_id] for session_id in args.session_ids])


def cmd_stats(client: SessionsClient, args: argparse.Namespace, out: Output) -> None:
    stats: Stats = client.get_stats(scope="tenant" if args.tenant_scope else None)
    if out.as_json:
        out.json(stats.model_dump(mode="json"))
        return
    rows: list[list[Any]] = [[f"sessions {key}", value] for key, value in stats.sessions.model_dump().items()]
    rows += [[key, value] for key, value in stats.model_dump().items() if key != "sessions"]
    out.table(f"stats ({stats.scope})", ["figure", "value"], rows)


COMMANDS: dict[str, Callable[[SessionsClient, argparse.Namespace, Output], None]] = {
    "ls": cmd_ls,
    "show": cmd_show,
    "history": cmd_history,
    "rm": cmd_rm,
    "stats": cmd_stats,
}


def main(
    argv: Sequence[str] | None = None,
    *,
    client: SessionsClient | None = None,
    write: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    args = parse_args(argv, os.environ if environ is None else environ)
    own = client is None
    active = client or client_from(args)
    try:
        COMMANDS[args.command](active, args, Output(args.json, write))
    except SessionsError as error:
        print(f"sessions: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if own:
            active.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
