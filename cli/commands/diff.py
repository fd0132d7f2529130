"""``dcosctl diff``: what ``apply`` would change, as a unified diff.

The comparison is :func:`reconciler.apply.diff_manifests` (the same
three-way merge ``apply`` does). Exit codes follow ``kubectl diff``: 0 when
there is no difference, 1 when there are differences, 2 on an error.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.commands import connection, guard, open_store, read_manifests, run
from cli.commands.apply import FILES_HELP
from cli.config import Connection

__all__ = ["ERROR", "diff"]

ERROR = 2
"""Exit code on an error; 1 means 'there are differences'."""


@guard(ERROR)
def diff(
    ctx: typer.Context,
    filenames: Annotated[
        list[str], typer.Option("--filename", "-f", metavar="FILE|DIR|-", help=FILES_HELP)
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="Descend into sub-folders.")
    ] = False,
) -> None:
    """Show what apply would change; exit 1 when there are differences."""
    conn = connection(ctx)
    text = run(_diff(conn, filenames, recursive=recursive))
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        raise typer.Exit(1)


async def _diff(conn: Connection, filenames: list[str], *, recursive: bool) -> str:
    from reconciler.apply import diff_manifests

    manifests = read_manifests(filenames, recursive=recursive)
    async with open_store(conn) as store:
        return await diff_manifests(store, manifests)
