"""``dcosctl scale``: set an App's ``spec.instances``.

The write is a compare-and-swap, made again from a fresh read when another
writer wins (:func:`reconciler.apps.rollout_view.scale_app`). The
``dcos/last-applied-configuration`` annotation is left alone, as ``kubectl
scale`` leaves it: a later ``apply`` of a file that sets ``instances`` sets
it back (``docs/commands/scale.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import connection, guard, open_store, run
from cli.commands.rollout import Domain, Name, Target, app_key
from cli.config import Connection

if TYPE_CHECKING:
    from adapters.protocols import ObjectKey

__all__ = ["scale"]


@guard()
def scale(
    ctx: typer.Context,
    target: Target,
    instances: Annotated[
        int, typer.Option("--instances", "--replicas", metavar="N", min=0, help="Instances wanted.")
    ],
    name: Name = None,
    domain: Domain = None,
) -> None:
    """Set the number of an App's instances (a scale never starts a rollout)."""
    key = app_key(target, name, domain)
    before = run(_scale(connection(ctx), key, instances))
    if before == instances:
        print(f"{key} unchanged ({instances} instances)")
    else:
        print(f"{key} scaled from {before} to {instances} instances")


async def _scale(conn: Connection, key: ObjectKey, instances: int) -> int:
    from reconciler.apps.rollout_view import scale_app

    async with open_store(conn) as store:
        return await scale_app(store, key, instances)
