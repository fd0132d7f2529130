"""``dcosctl delete``: delete objects by kind and name, or those a file describes.

:func:`reconciler.apply.delete_objects` does the deleting. An object that
finalizers still hold is reported as ``deleting (finalizers: ...)``; it goes
when its controllers have cleaned up. A name that does not exist is an
error (exit 1); the objects named before it are deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import (
    USAGE,
    connection,
    guard,
    object_key,
    open_store,
    read_manifests,
    resolve_kind,
    run,
)
from cli.commands.apply import FILES_HELP
from cli.commands.get import DOMAIN_HELP
from cli.config import Connection
from cli.output import fail

if TYPE_CHECKING:
    from adapters.protocols import ObjectKey

__all__ = ["delete"]


@guard()
def delete(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Argument(metavar="KIND", help="A kind, plural or short name.")
    ] = None,
    names: Annotated[
        list[str] | None, typer.Argument(metavar="NAME", help="Names of the objects.")
    ] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", metavar="DOMAIN", help=DOMAIN_HELP)
    ] = None,
    filenames: Annotated[
        list[str] | None,
        typer.Option("--filename", "-f", metavar="FILE|DIR|-", help=FILES_HELP),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="Descend into sub-folders.")
    ] = False,
) -> None:
    """Delete objects by KIND NAME..., or those in files with -f."""
    if filenames:
        if kind is not None:
            fail("give KIND NAME or -f FILE, not both", USAGE)
        keys = None
    else:
        if kind is None or not names:
            fail("give KIND NAME... or -f FILE", USAGE)
        cls = resolve_kind(kind)
        keys = [object_key(cls, name, domain) for name in names]
    conn = connection(ctx)
    run(_delete(conn, keys, filenames or [], recursive=recursive))


async def _delete(
    conn: Connection, keys: list[ObjectKey] | None, filenames: list[str], *, recursive: bool
) -> None:
    from adapters.protocols import ObjectKey
    from reconciler.apply import Action, delete_objects

    if keys is None:
        keys = [ObjectKey.of(m.obj) for m in read_manifests(filenames, recursive=recursive)]
    async with open_store(conn) as store:
        for key in keys:  # one at a time, so each line shows as soon as it is done
            for result in await delete_objects(store, [key]):
                line = f"{result.key} {result.action.value}"
                if result.action is Action.DELETING and result.obj is not None:
                    line += f" (finalizers: {', '.join(result.obj.metadata.finalizers)})"
                print(line, flush=True)
