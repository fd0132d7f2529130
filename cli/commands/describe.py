"""``dcosctl describe``: one object for people, as ``kubectl describe`` shows it.

Identity and metadata first (the ``dcos/last-applied-configuration``
annotation is left out: it repeats the spec), then the spec and the status
as indented YAML, the conditions and the object's recent events as tables.
:func:`describe_lines` builds styled lines; :func:`cli.output.print_styled`
colours them with rich on a terminal and prints plain text otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands import connection, guard, object_key, open_store, resolve_kind, run
from cli.commands.get import DOMAIN_HELP
from cli.config import Connection
from cli.output import NONE, Line, column_widths, dump_yaml, format_age, print_styled, render_row

if TYPE_CHECKING:
    from adapters.protocols import ObjectKey
    from crds.events import Event
    from crds.meta import Resource

__all__ = ["describe", "describe_lines", "event_age"]

LABEL_WIDTH = 14
"""Values start in this column, after ``Annotations:  ``."""


@guard()
def describe(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(metavar="KIND", help="A kind, plural or short name.")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The object's name.")],
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", metavar="DOMAIN", help=DOMAIN_HELP)
    ] = None,
) -> None:
    """Show one object in detail: metadata, spec, status, conditions, events."""
    key = object_key(resolve_kind(kind), name, domain)
    obj, events = run(_fetch(connection(ctx), key))
    print_styled(describe_lines(obj, events, now=datetime.now(UTC)))


async def _fetch(conn: Connection, key: ObjectKey) -> tuple[Resource, list[Event]]:
    async with open_store(conn) as store:
        obj = await store.get(key)
        events = await store.events(key)
    return obj, events


def _field(label: str, value: str) -> list[Line]:
    """``Label:  value``; a multi-line value continues under the first."""
    first, *rest = value.split("\n") if value else [""]
    lines: list[Line] = [[(f"{label}:".ljust(LABEL_WIDTH), "bold"), (first, None)]]
    lines.extend([[(" " * LABEL_WIDTH + more, None)] for more in rest])
    return lines


def _pairs(values: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(values.items())) or NONE


def _section(title: str, data: Any) -> list[Line]:
    if not data:
        return _field(title, NONE)
    text = dump_yaml(data).rstrip("\n")
    lines: list[Line] = [[(f"{title}:", "bold")]]
    lines.extend([[("  " + line, None)] for line in text.split("\n")])
    return lines


def _table(
    title: str, headers: list[str], rows: list[list[str]], styles: list[str | None]
) -> list[Line]:
    """A titled table, indented by two; ``styles[i]`` colours row ``i`` on a terminal."""
    if not rows:
        return _field(title, NONE)
    underline = ["-" * len(h) for h in headers]
    widths = column_widths(headers, [underline, *rows])
    lines: list[Line] = [[(f"{title}:", "bold")]]
    lines.append([("  " + render_row(headers, widths), None)])
    lines.append([("  " + render_row(underline, widths), None)])
    for row, style in zip(rows, styles, strict=True):
        lines.append([("  " + render_row(row, widths), style)])
    return lines


def event_age(event: Event, now: datetime) -> str:
    """``5m``, or ``5m (x3 over 2h)`` for an event seen several times."""
    age = format_age(event.last_timestamp, now)
    if event.count > 1:
        age += f" (x{event.count} over {format_age(event.first_timestamp, now)})"
    return age


def describe_lines(obj: Resource, events: Sequence[Event], *, now: datetime) -> list[Line]:
    """The whole description of ``obj`` as styled lines."""
    from reconciler.apply import LAST_APPLIED

    meta = obj.metadata
    wire = obj.to_wire()
    lines = _field("Name", meta.name)
    if meta.domain:
        lines += _field("Domain", meta.domain)
    lines += _field("Kind", obj.kind)
    lines += _field("Labels", _pairs(meta.labels))
    shown = {k: v for k, v in meta.annotations.items() if k != LAST_APPLIED}
    lines += _field("Annotations", _pairs(shown))
    created = NONE
    if meta.creation_timestamp is not None:
        stamp = meta.creation_timestamp.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        created = f"{stamp} ({format_age(meta.creation_timestamp, now)} ago)"
    lines += _field("Created", created)
    if meta.generation is not None:
        lines += _field("Generation", str(meta.generation))
    if meta.deletion_timestamp is not None:
        lines += _field("Deleting", f"since {format_age(meta.deletion_timestamp, now)}")
    if meta.finalizers:
        lines += _field("Finalizers", ", ".join(meta.finalizers))
    if meta.owner_references:
        owners = ", ".join(f"{o.kind}/{o.name}" for o in meta.owner_references)
        lines += _field("Owners", owners)
    lines += _section("Spec", wire.get("spec"))
    status = dict(wire.get("status") or {})
    conditions = status.pop("conditions", None) or []
    per_host = status.pop("perHost", None) or [] if obj.kind == "Domain" else []
    lines += _section("Status", status)
    if obj.kind == "Domain":
        lines += _domain_hosts(per_host)
    rows = [
        [
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "")),
            str(c.get("message", "")),
            _age_of(c.get("lastTransitionTime"), now),
        ]
        for c in conditions
    ]
    colour = {"True": "green", "False": "red"}
    styles: list[str | None] = [colour.get(row[1], "yellow") for row in rows]
    lines += _table("Conditions", ["Type", "Status", "Reason", "Message", "Age"], rows, styles)
    rows = [[e.type.value, e.reason, event_age(e, now), e.source, e.message] for e in events]
    styles = ["yellow" if row[0] == "Warning" else None for row in rows]
    lines += _table("Events", ["Type", "Reason", "Age", "From", "Message"], rows, styles)
    return lines


def _domain_hosts(rows: list[dict[str, Any]]) -> list[Line]:
    """A Domain's ``status.perHost``: its own hosts, then the shared-pool hosts it borrows."""

    def number(value: Any) -> str:
        return f"{value:g}" if isinstance(value, int | float) else "-"

    table = [
        [
            str(r.get("host", "")),
            "shared (borrowed)" if r.get("borrowed") else "own",
            f"{number(r.get('usedCpus', 0))}/{number(r.get('cpus'))}",
            f"{number(r.get('usedMem', 0))}/{number(r.get('mem'))}",
            str(r.get("instances", 0)),
        ]
        for r in rows
    ]
    styles: list[str | None] = ["yellow" if r.get("borrowed") else None for r in rows]
    headers = ["Host", "Pool", "CPUs used/capacity", "Mem used/capacity", "Instances"]
    return _table("Hosts", headers, table, styles)


def _age_of(stamp: Any, now: datetime) -> str:
    if not isinstance(stamp, str):
        return NONE
    try:
        return format_age(datetime.fromisoformat(stamp), now)
    except ValueError:
        return NONE
