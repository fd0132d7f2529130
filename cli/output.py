"""Rendering for ``dcosctl``: error lines, tables, ages, YAML and JSON.

Tables are plain column-aligned text as kubectl prints them (three spaces
between columns, no borders), built with ``str.ljust`` so that ten thousand
rows take milliseconds. When stdout is a terminal (or ``COLUMNS`` is set)
they fit its width: the widest column is cut with an ellipsis. When piped,
nothing is cut. ``rich`` is loaded only to colour ``describe`` on a terminal.

Every user error ends up in :func:`fail`: one ``error: <message>`` line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

__all__ = [
    "ELLIPSIS",
    "NONE",
    "Line",
    "cell",
    "column_widths",
    "dump_json",
    "dump_yaml",
    "fail",
    "format_age",
    "lookup",
    "print_error",
    "print_styled",
    "render_row",
    "render_table",
    "stdout_is_terminal",
    "terminal_width",
]

Line = list[tuple[str, str | None]]
"""One line of styled text: (text, rich style or None) segments."""

ELLIPSIS = "…"
NONE = "<none>"
GAP = "   "
MIN_COLUMN = 8
"""A cut column keeps at least this many characters."""


def print_error(message: str) -> None:
    """Write the one-line ``error: ...`` message to stderr."""
    line = " ".join(str(message).split("\n")).strip()
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    import typer

    print_error(message)
    raise typer.Exit(code)


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width() -> int | None:
    """Columns to fit tables into, or None (no limit) when stdout is piped."""
    if os.environ.get("COLUMNS", "").isdigit() or stdout_is_terminal():
        return shutil.get_terminal_size().columns
    return None


def format_age(when: datetime | None, now: datetime | None = None) -> str:
    """kubectl's short human duration: ``42s``, ``5m``, ``3h``, ``2d``, ``3y``."""
    if when is None:
        return NONE
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int((now - when).total_seconds())
    if seconds < 0:
        return "0s"
    if seconds < 180:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // (24 * 365)}y"


def cell(value: Any) -> str:
    """One table cell: ``<none>`` for missing, ``4`` for 4.0, lists joined by commas,
    maps as k=v."""
    if value is None or value == "" or value == [] or value == {}:
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(cell(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}={cell(item)}" for key, item in value.items())
    if hasattr(type(value), "model_fields"):
        return cell(value.model_dump(mode="json", by_alias=True, exclude_none=True))
    return str(value)


_ALIASES: dict[type, dict[str, str] | None] = {}
"""class -> wire name -> attribute name (None: not a model), filled on first use."""


def _attributes(cls: type) -> dict[str, str] | None:
    try:
        return _ALIASES[cls]
    except KeyError:
        fields = getattr(cls, "model_fields", None)
        names = None if fields is None else {(f.alias or n): n for n, f in fields.items()}
        _ALIASES[cls] = names
        return names


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted wire path (``status.readyInstances``) of a model or dict.

    Walks the typed objects by their camelCase aliases rather than dumping
    them, which keeps large tables fast. None when a step is missing.
    """
    current = obj
    for part in path.split("."):
        if current is None:
            return None
        if isinstance(current, dict):
            current = current.get(part)
            continue
        names = _attributes(type(current))
        if names is None:
            return None
        name = names.get(part)
        if name is not None:
            current = getattr(current, name, None)
        else:
            current = (getattr(current, "model_extra", None) or {}).get(part)
    return current


def _fit(widths: list[int], limit: int) -> list[int]:
    """Shrink the widest columns until the row fits ``limit`` characters."""
    widths = list(widths)
    total = sum(widths) + len(GAP) * (len(widths) - 1)
    while total > limit:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break
        cut = min(total - limit, widths[widest] - MIN_COLUMN)
        widths[widest] -= cut
        total -= cut
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def column_widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int | None = None
) -> list[int]:
    """The width of each column; with ``width``, cut the widest to fit it."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, text in enumerate(row):
            if len(text) > widths[i]:
                widths[i] = len(text)
    return widths if width is None else _fit(widths, width)


def render_row(row: Sequence[str], widths: Sequence[int], *, clip: bool = False) -> str:
    """One line of a table; with ``clip``, cells wider than their column end in an ellipsis."""
    last = len(widths) - 1
    parts = []
    for i, text in enumerate(row):
        if clip and len(text) > widths[i]:
            text = _clip(text, widths[i])
        parts.append(text if i == last else text.ljust(widths[i]))
    return GAP.join(parts).rstrip()


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int | None = None
) -> tuple[str, list[int]]:
    """Column-aligned text (no trailing newline) and the column widths used.

    With ``width`` the widest column is cut with an ellipsis until the table fits.
    """
    widths = column_widths(headers, rows, width=width)
    clip = width is not None
    lines = [render_row(headers, widths, clip=clip)]
    lines.extend(render_row(row, widths, clip=clip) for row in rows)
    return "\n".join(lines), widths


def dump_json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False)


def dump_yaml(data: Any) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(
        data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return text


def print_styled(lines: Sequence[Line]) -> None:
    """Print styled lines: coloured by rich on a terminal, plain text otherwise."""
    if not stdout_is_terminal():
        sys.stdout.write("".join("".join(text for text, _ in line) + "\n" for line in lines))
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    for line in lines:
        console.print(Text.assemble(*[(text, style or "") for text, style in line]))
