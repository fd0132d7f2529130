"""``dcosctl rollout``: follow, list and undo an App's rollouts.

* ``status`` watches the App until its rollout is complete (exit 0) or has
  failed its progress deadline (exit 1); ``--timeout`` bounds the wait
  (exit 1). On a terminal it draws a rich progress bar, piped it prints one
  line per change;
* ``history`` lists the revisions the App controller remembers;
* ``undo`` writes an older revision's spec back (compare-and-swap).

The decisions live in :mod:`reconciler.apps.rollout_view`; this module parses
``app/NAME`` (or ``app NAME``), calls it and renders.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import USAGE, connection, guard, object_key, open_store, run
from cli.commands.get import DOMAIN_HELP
from cli.config import Connection
from cli.output import fail, format_age, render_table, stdout_is_terminal, terminal_width

if TYPE_CHECKING:
    from adapters.protocols import ObjectKey
    from reconciler.apps.rollout_view import HistoryEntry, RolloutProgress

__all__ = ["app_key", "history", "rollout", "status", "undo"]

rollout = typer.Typer(
    name="rollout",
    help="Follow, list and undo an App's rollouts.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TARGET_HELP = "app/NAME, or app NAME."
HISTORY_HEADERS = ["REVISION", "VERSION", "WHEN", "OUTCOME", "CHANGE"]

Target = Annotated[str, typer.Argument(metavar="app/NAME", help=TARGET_HELP)]
Name = Annotated[str | None, typer.Argument(metavar="[NAME]", help="The name, after app.")]
Domain = Annotated[str | None, typer.Option("--domain", "-d", metavar="DOMAIN", help=DOMAIN_HELP)]


def app_key(target: str, name: str | None, domain: str | None) -> ObjectKey:
    """The App named by ``app/NAME`` or ``app NAME``; exit 2 for anything else."""
    from cli.commands import resolve_kind

    kind, _, rest = target.partition("/")
    if rest and name is not None:
        fail(f"give app/NAME or app NAME, not {target} {name}", USAGE)
    name = rest or name
    if not name:
        fail("name the App: app/NAME or app NAME", USAGE)
    cls = resolve_kind(kind)
    if cls.model_fields["kind"].default != "App":
        fail(f"rollouts are App rollouts, not {cls.model_fields['kind'].default}", USAGE)
    return object_key(cls, name, domain)


# --------------------------------------------------------------- status


@rollout.command("status", no_args_is_help=True)
@guard()
def status(
    ctx: typer.Context,
    target: Target,
    name: Name = None,
    domain: Domain = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="SECONDS", min=0.0, help="Give up (exit 1) after this long."
        ),
    ] = None,
) -> None:
    """Watch an App's rollout until it completes (exit 0) or fails (exit 1)."""
    key = app_key(target, name, domain)
    show = _BarDisplay() if stdout_is_terminal() else _LineDisplay()
    try:
        final = run(_follow(connection(ctx), key, show, timeout))
    except TimeoutError:
        show.close()
        fail(f"{key}: rollout not finished after {timeout:g}s")
    except KeyboardInterrupt:
        show.close()
        raise typer.Exit(1) from None
    show.close()
    if final.phase.value == "Failed":
        fail(f"{key}: rollout failed: {final.message}")
    print(f"{key} successfully rolled out")


async def _follow(
    conn: Connection, key: ObjectKey, show: _Display, within: float | None
) -> RolloutProgress:
    import asyncio

    from adapters.protocols import EventType
    from crds.errors import NotFound
    from reconciler.apps.rollout_view import progress_of, read_app

    async with open_store(conn) as store, asyncio.timeout(within):
        revision = await store.revision()
        progress = progress_of(await read_app(store, key))
        show.update(progress)
        if progress.done:
            return progress
        async for event in store.watch("App", domain=key.domain, revision=revision):
            if event.obj.metadata.name != key.name:
                continue
            if event.type is EventType.DELETED:
                raise NotFound(f"{key} was deleted during its rollout")
            progress = progress_of(await read_app(store, key))
            show.update(progress)
            if progress.done:
                return progress
    raise AssertionError("unreachable: the watch never ends")


class _Display:
    def update(self, progress: RolloutProgress) -> None: ...

    def close(self) -> None: ...


class _LineDisplay(_Display):
    """One plain line per change of the progress."""

    def __init__(self) -> None:
        self._last = ""

    def update(self, progress: RolloutProgress) -> None:
        line = progress.line()
        if line != self._last:
            self._last = line
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


class _BarDisplay(_Display):
    """A rich progress bar of updated instances, healthy count and message alongside."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            transient=False,
        )
        self._task = self._bar.add_task("", total=None, detail="")
        self._bar.start()

    def update(self, progress: RolloutProgress) -> None:
        detail = f"updated, {progress.healthy} healthy"
        if progress.revision:
            detail += f" (revision {progress.revision})"
        self._bar.update(
            self._task,
            description=str(progress.key),
            completed=progress.updated,
            total=max(progress.wanted, 1),
            detail=f"{detail}: {progress.message}",
        )

    def close(self) -> None:
        self._bar.stop()


# -------------------------------------------------------------- history


@rollout.command("history", no_args_is_help=True)
@guard()
def history(ctx: typer.Context, target: Target, name: Name = None, domain: Domain = None) -> None:
    """List an App's revisions: number, version, when, outcome and what changed."""
    key = app_key(target, name, domain)
    entries = run(_history(connection(ctx), key))
    rows = history_rows(entries, now=datetime.now(UTC))
    text, _ = render_table(HISTORY_HEADERS, rows, width=terminal_width())
    sys.stdout.write(text + "\n")


async def _history(conn: Connection, key: ObjectKey) -> list[HistoryEntry]:
    from reconciler.apps.rollout_view import history_of, read_rollout

    async with open_store(conn) as store:
        return history_of(await read_rollout(store, key))


def history_rows(entries: list[HistoryEntry], *, now: datetime) -> list[list[str]]:
    """One row per revision; the current one is marked ``*``."""
    return [
        [
            f"{e.revision}{' *' if e.current else ''}",
            e.version,
            f"{format_age(e.created_at, now)} ago",
            e.outcome,
            e.change,
        ]
        for e in entries
    ]


# ----------------------------------------------------------------- undo


@rollout.command("undo", no_args_is_help=True)
@guard()
def undo(
    ctx: typer.Context,
    target: Target,
    name: Name = None,
    domain: Domain = None,
    to_revision: Annotated[
        int | None,
        typer.Option(
            "--to-revision", metavar="N", min=1, help="The revision (default: the one before)."
        ),
    ] = None,
) -> None:
    """Roll an App back to an earlier revision's spec, at today's instance count."""
    key = app_key(target, name, domain)
    revision = run(_undo(connection(ctx), key, to_revision))
    print(f"{key} rolled back to revision {revision}")


async def _undo(conn: Connection, key: ObjectKey, to_revision: int | None) -> int:
    from reconciler.apps.rollout_view import undo_app

    async with open_store(conn) as store:
        return await undo_app(store, key, to_revision)
