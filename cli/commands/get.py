"""``dcosctl get``: list objects, or show one, as a table, YAML, JSON or names.

The table is NAME, the kind's printer columns and AGE, with DOMAIN first when
a domain-scoped kind is listed across domains. There is no default domain:
a list without ``-d`` shows every domain (as ``-A`` does), and showing one
object of a domain-scoped kind needs ``-d``.

``-w`` prints the list, then one line per change until Ctrl-C. In the table
the first column, EVENT, holds the change's type; the listed objects show as
ADDED, as ``kubectl get -w --output-watch-events`` prints them.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands import USAGE, connection, guard, object_key, open_store, resolve_kind, run
from cli.config import Connection
from cli.output import (
    cell,
    column_widths,
    dump_json,
    dump_yaml,
    fail,
    format_age,
    lookup,
    render_row,
    terminal_width,
)

if TYPE_CHECKING:
    from adapters.protocols import ObjectKey, Store, WatchEvent
    from crds.meta import Resource

__all__ = ["Output", "as_list", "get", "name_of", "table_columns", "table_headers", "table_row"]


class Output(enum.StrEnum):
    TABLE = "table"
    WIDE = "wide"
    YAML = "yaml"
    JSON = "json"
    NAME = "name"


DOMAIN_HELP = "The domain of a domain-scoped kind."
ALL_HELP = "Every domain (the default for lists)."


@guard()
def get(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(metavar="KIND", help="A kind, plural or short name: App, apps, app.")
    ],
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="One object's name.")] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", metavar="DOMAIN", help=DOMAIN_HELP)
    ] = None,
    all_domains: Annotated[bool, typer.Option("--all-domains", "-A", help=ALL_HELP)] = False,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table, wide, yaml, json or name.")
    ] = Output.TABLE,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector", "-l", metavar="SELECTOR", help="Labels: app=web,tier!=db,env in (a,b)."
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="After the list, print changes until Ctrl-C.")
    ] = False,
) -> None:
    """Show objects of one kind as a table, YAML, JSON or names."""
    if domain is not None and all_domains:
        fail("-d and -A exclude each other", USAGE)
    if name is not None and selector is not None:
        fail("give a NAME or a selector -l, not both", USAGE)
    cls = resolve_kind(kind)
    key = object_key(cls, name, domain) if name is not None else None
    conn = connection(ctx)
    request = _Request(cls, key, domain, selector, output, watch)
    try:
        run(_get(conn, request))
    except KeyboardInterrupt:
        return


class _Request:
    """What one ``get`` asks for, with the kind resolved and the domain checked."""

    def __init__(
        self,
        cls: type[Resource],
        key: ObjectKey | None,
        domain: str | None,
        selector: str | None,
        output: Output,
        watch: bool,
    ) -> None:
        from crds.meta import Scope

        self.cls = cls
        self.kind: str = cls.model_fields["kind"].default
        self.key = key
        self.domain = domain if cls.SCOPE is Scope.DOMAIN else None
        self.selector = selector
        self.output = output
        self.watch = watch
        self.show_domain = cls.SCOPE is Scope.DOMAIN and self.domain is None and key is None


async def _get(conn: Connection, req: _Request) -> None:
    async with open_store(conn) as store:
        if req.key is not None:
            revision = await store.revision() if req.watch else 0
            items = [(await store.get(req.key)).to_wire()]
        else:
            items, revision = await store.list_wire(
                req.kind, domain=req.domain, selector=req.selector
            )
        widths = _print_items(req, items)
        if req.watch:
            await _watch(store, req, revision, widths)


def _print_items(req: _Request, items: list[dict[str, Any]]) -> list[int]:
    from adapters.protocols import EventType

    if req.output in (Output.JSON, Output.YAML):
        data = items[0] if req.key is not None else as_list(items)
        text = dump_json(data) + "\n" if req.output is Output.JSON else dump_yaml(data)
        sys.stdout.write(text)
    elif req.output is Output.NAME:
        sys.stdout.write("".join(f"{name_of(obj)}\n" for obj in items))
    elif not items and not req.watch:
        where = f" in domain {req.domain}" if req.domain else ""
        print(f"No {req.cls.PLURAL or req.kind} found{where}.", file=sys.stderr)
    else:
        headers, rows = _table(req, items)
        widths = column_widths(headers, rows, width=terminal_width())
        if req.watch:  # room for the longest event type
            widths[0] = max(widths[0], len(EventType.MODIFIED))
        clip = terminal_width() is not None
        lines = [render_row(row, widths, clip=clip) for row in [headers, *rows]]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return widths
    sys.stdout.flush()
    return []


def _table(req: _Request, items: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    wide = req.output is Output.WIDE
    now = datetime.now(UTC)
    headers = table_headers(req.cls, show_domain=req.show_domain, wide=wide)
    columns = table_columns(req.cls, wide=wide)
    rows = [table_row(obj, columns, show_domain=req.show_domain, now=now) for obj in items]
    if req.watch:
        headers.insert(0, "EVENT")
        for row in rows:
            row.insert(0, "ADDED")
    return headers, rows


def table_headers(cls: type[Resource], *, show_domain: bool, wide: bool) -> list[str]:
    """DOMAIN (across domains), NAME, the printer columns, AGE."""
    headers = ["DOMAIN"] if show_domain else []
    headers.append("NAME")
    headers.extend(c.name for c in cls.PRINTER_COLUMNS if wide or not c.wide)
    headers.append("AGE")
    return headers


def table_columns(cls: type[Resource], *, wide: bool) -> list[str]:
    return [c.path for c in cls.PRINTER_COLUMNS if wide or not c.wide]


def table_row(
    obj: dict[str, Any], columns: Sequence[str], *, show_domain: bool, now: datetime
) -> list[str]:
    """The cells of one object's wire form, matching :func:`table_headers`."""
    meta = obj["metadata"]
    row = [meta.get("domain") or ""] if show_domain else []
    row.append(meta["name"])
    row.extend(cell(lookup(obj, path)) for path in columns)
    row.append(format_age(_timestamp(meta.get("creationTimestamp")), now))
    return row


def _timestamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def as_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``kind: List`` document of ``-o json`` and ``-o yaml``."""
    from crds.meta import API_VERSION

    return {"apiVersion": API_VERSION, "kind": "List", "items": list(items)}


def name_of(obj: dict[str, Any]) -> str:
    """``Kind/domain/name`` (``Kind/name`` when cluster-scoped), as apply prints it."""
    meta = obj["metadata"]
    where = f"{meta['domain']}/" if meta.get("domain") else ""
    return f"{obj['kind']}/{where}{meta['name']}"


async def _watch(store: Store, req: _Request, revision: int, widths: list[int]) -> None:
    selector = None
    if req.selector is not None:
        from crds.selectors import parse_selector

        selector = parse_selector(req.selector)
    async for event in store.watch(req.kind, domain=req.domain, revision=revision):
        if req.key is not None and event.obj.metadata.name != req.key.name:
            continue
        if selector is not None and not selector.matches(event.obj.metadata.labels):
            continue
        sys.stdout.write(_event_line(req, event, widths) + "\n")
        sys.stdout.flush()


def _event_line(req: _Request, event: WatchEvent, widths: list[int]) -> str:
    kind = event.type.value
    wire = event.obj.to_wire()
    if req.output is Output.NAME:
        return f"{kind} {name_of(wire)}"
    if req.output is Output.JSON:
        import json

        return json.dumps({"type": kind, "object": wire}, ensure_ascii=False)
    if req.output is Output.YAML:
        return "---\n" + dump_yaml({"type": kind, "object": wire}).rstrip("\n")
    columns = table_columns(req.cls, wide=req.output is Output.WIDE)
    row = table_row(wire, columns, show_domain=req.show_domain, now=datetime.now(UTC))
    return render_row([kind, *row], widths, clip=terminal_width() is not None)
