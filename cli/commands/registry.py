"""``dcosctl registry sync MIRROR``: ask a RegistryMirror to sync its replicas now.

The request is the annotation ``dcos/sync-requested`` set to the current
time (a compare-and-swap on the stored mirror, retried when another writer
wins); the RegistryMirror controller syncs when the annotation is newer than
``status.lastSyncTime``. ``--wait`` then waits until the status shows a sync
at or after the request and prints each replica's lag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import connection, guard, open_store, run
from cli.output import render_table

if TYPE_CHECKING:
    from datetime import datetime

    from adapters.protocols import Store
    from cli.config import Connection
    from crds.registrymirror import RegistryMirror

__all__ = ["registry", "sync"]

registry = typer.Typer(
    name="registry",
    help="Act on RegistryMirrors: sync the replicas on demand.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_ATTEMPTS = 5
_POLL = 0.5  # seconds between reads of the status while waiting


@registry.command("sync")
@guard()
def sync(
    ctx: typer.Context,
    mirror: Annotated[str, typer.Argument(metavar="MIRROR", help="The RegistryMirror's name.")],
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0.1,
            help="Wait up to SECONDS for the sync to finish and print each replica's lag.",
        ),
    ] = None,
) -> None:
    """Ask MIRROR's controller to copy every listed repository between the replicas now."""
    at = run(_request(connection(ctx), mirror))
    print(f"registrymirror {mirror}: sync requested at {at.isoformat(timespec='seconds')}")
    if wait is None:
        return
    done = run(_wait(connection(ctx), mirror, at, wait))
    rows = [
        [
            r.host,
            r.address,
            "yes" if r.ready else "no",
            "yes" if r.primary else "",
            "-" if r.missing_tags is None else str(r.missing_tags),
            r.error or "",
        ]
        for r in done.status.replicas
    ]
    table, _ = render_table(["HOST", "ADDRESS", "READY", "PRIMARY", "LAG", "ERROR"], rows)
    print(table)


async def _get(store: Store, name: str) -> RegistryMirror:
    from adapters.protocols import ObjectKey
    from crds.registrymirror import RegistryMirror

    got = await store.get(ObjectKey("RegistryMirror", None, name))
    assert isinstance(got, RegistryMirror)
    return got


async def _request(conn: Connection, name: str) -> datetime:
    from datetime import UTC, datetime

    from crds.errors import ConflictError
    from reconciler.registry.mirror import SYNC_REQUESTED

    async with open_store(conn) as store:
        for _ in range(_ATTEMPTS):
            mirror = await _get(store, name)
            at = datetime.now(UTC)
            annotations = {**mirror.metadata.annotations, SYNC_REQUESTED: at.isoformat()}
            meta = mirror.metadata.model_copy(update={"annotations": annotations})
            try:
                await store.update(mirror.model_copy(update={"metadata": meta}))
            except ConflictError:
                continue
            return at
    raise ConflictError(f"RegistryMirror {name}: kept changing under the update")


async def _wait(conn: Connection, name: str, at: datetime, seconds: float) -> RegistryMirror:
    import asyncio

    from crds.errors import DcosError

    async with open_store(conn) as store:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    mirror = await _get(store, name)
                    last = mirror.status.last_sync_time
                    if last is not None and last >= at:
                        return mirror
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            raise DcosError(
                f"RegistryMirror {name}: no sync within {seconds:g}s "
                "(is dcos-controller running, and are two replicas ready?)"
            ) from None
