"""``dcosctl events``: what happened recently, oldest first, newest last.

Events are kept by the store on an etcd lease, so they expire by themselves
(an hour by default). With ``KIND NAME`` only that object's events are
shown; with ``-d`` only those of objects in that domain. Without either,
every event is listed (``-A`` says so explicitly).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import USAGE, connection, guard, object_key, open_store, resolve_kind, run
from cli.commands.get import ALL_HELP, DOMAIN_HELP
from cli.config import Connection
from cli.output import fail, render_table, terminal_width

if TYPE_CHECKING:
    from adapters.protocols import ObjectKey
    from crds.events import Event

__all__ = ["event_rows", "events"]

HEADERS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "FROM", "MESSAGE"]


@guard()
def events(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Argument(metavar="KIND", help="Only events of this kind's NAME.")
    ] = None,
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="The object's name.")] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", metavar="DOMAIN", help=DOMAIN_HELP)
    ] = None,
    all_domains: Annotated[bool, typer.Option("--all-domains", "-A", help=ALL_HELP)] = False,
) -> None:
    """List recent events, of every object or of one."""
    if domain is not None and all_domains:
        fail("-d and -A exclude each other", USAGE)
    if (kind is None) != (name is None):
        fail("give both KIND and NAME, or neither", USAGE)
    key = object_key(resolve_kind(kind), name, domain) if kind and name else None
    found = run(_events(connection(ctx), key))
    if domain is not None:
        found = [e for e in found if e.involved_object.domain == domain]
    if not found:
        where = f" in domain {domain}" if domain else ""
        print(f"No events found{where}.", file=sys.stderr)
        return
    text, _ = render_table(
        HEADERS, event_rows(found, now=datetime.now(UTC)), width=terminal_width()
    )
    sys.stdout.write(text + "\n")


async def _events(conn: Connection, key: ObjectKey | None) -> list[Event]:
    async with open_store(conn) as store:
        return await store.events(key)


def event_rows(found: Sequence[Event], *, now: datetime) -> list[list[str]]:
    """One row per event, matching :data:`HEADERS`."""
    from cli.commands.describe import event_age

    rows = []
    for event in found:
        obj = event.involved_object
        where = f"{obj.domain}/" if obj.domain else ""
        rows.append(
            [
                event_age(event, now),
                event.type.value,
                event.reason,
                f"{obj.kind}/{where}{obj.name}",
                event.source,
                event.message,
            ]
        )
    return rows
