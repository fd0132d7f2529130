"""``dcosctl sync``: keep etcd equal to a folder of specs (GitOps).

``dcosctl sync DIR`` is ``dcosctl sync run DIR``: the group runs ``run`` when
its first argument is not one of its commands, so ``dcosctl sync specs/`` and
``dcosctl sync status`` both read naturally (a folder literally named
``status`` is ``./status``).

The logic is :mod:`reconciler.sync`; this module reads the flags, reads and
validates the folder before connecting (a wrong file writes nothing: one
``error:`` line naming file and field, exit 1), and prints what happened.
``--watch`` follows the folder with :func:`watchfiles.awatch` and the objects
with an etcd watch until Ctrl-C or SIGTERM. ``status`` exits 0 when every
object is Synced, 1 when one is not, 2 on an error (as ``diff``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from cli.commands import USAGE, connection, guard, open_store, run
from cli.commands.apply import default_applyset
from cli.config import Connection
from cli.output import NONE, fail, print_error, render_table

if TYPE_CHECKING:
    from typer._click.core import Context as ClickContext  # typer vendors click

    from adapters.protocols import Store
    from crds.errors import DcosError
    from reconciler.apply.admission import AdmissionCheck
    from reconciler.sync import ObjectStatus, SyncRecord, SyncResult

__all__ = ["ERROR", "run_sync", "status", "sync"]

ERROR = 2
"""``status``'s exit code on an error; 1 means 'out of sync'."""
DEBOUNCE_MS = 500
"""Longest time watchfiles groups changes before yielding them."""
STEP_MS = 30
"""Quiet time after a change before watchfiles yields it."""


class _DefaultRun(TyperGroup):
    """A group whose first argument, when it names no command, goes to ``run``."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


sync = typer.Typer(
    name="sync",
    cls=_DefaultRun,
    help="Keep etcd equal to a folder of specs: dcosctl sync DIR, dcosctl sync status.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

NameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        metavar="NAME",
        help="The sync's name (default: the folder's base name); it owns ApplySet sync.NAME.",
    ),
]


def _name(folder: Path, name: str | None) -> str:
    chosen = name or default_applyset(str(folder))
    if not chosen:
        fail(f"cannot name a sync after {folder}: pass --name NAME", USAGE)
    return chosen


@sync.command("run", no_args_is_help=True)
@guard()
def run_sync(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The folder of specs.")],
    name: NameOption = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Delete objects of this sync the folder no longer holds."),
    ] = False,
    self_heal: Annotated[
        bool,
        typer.Option(
            "--self-heal",
            help="Put back objects changed in etcd behind the folder's back "
            "(never the instances a ScalingPolicy owns).",
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Keep syncing on every file change and object write."),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            metavar="SECONDS",
            min=0.1,
            help="With --watch: also sync this often (notices new commits).",
        ),
    ] = 5.0,
) -> None:
    """Sync DIR into etcd (the default command: dcosctl sync DIR)."""
    from reconciler.sync import read_folder

    chosen = _name(folder, name)
    conn = connection(ctx)
    folder = folder.absolute()
    if watch:
        if not folder.is_dir():
            fail(f"{folder}: not a folder")
        print(f"sync {chosen}: watching {folder} (Ctrl-C stops)", file=sys.stderr, flush=True)
        run(_watch(conn, folder, chosen, prune=prune, self_heal=self_heal, interval=interval))
        return
    manifests = read_folder(folder)  # a wrong file stops here, before etcd is reached
    result = run(_sync(conn, folder, chosen, manifests, prune=prune, self_heal=self_heal))
    sys.stdout.write(_render(result))
    sys.stdout.flush()


def _admission(store: Store) -> list[AdmissionCheck]:
    from adapters.etcd import EtcdStore
    from adapters.etcd.ipam import EtcdIpam
    from reconciler.apply.admission import FreezeAdmission, IPPoolAdmission

    assert isinstance(store, EtcdStore)
    return [IPPoolAdmission(EtcdIpam(store)), FreezeAdmission(store, lambda: datetime.now(UTC))]


async def _sync(
    conn: Connection,
    folder: Path,
    name: str,
    manifests: Sequence[Any],
    *,
    prune: bool,
    self_heal: bool,
) -> SyncResult:
    import asyncio

    from reconciler.sync import source_revision, sync_folder

    async with open_store(conn) as store:
        return await sync_folder(
            store,
            manifests,
            name=name,
            source=str(folder),
            revision=await asyncio.to_thread(source_revision, folder),
            now=datetime.now(UTC),
            prune=prune,
            self_heal=self_heal,
            admission=_admission(store),
        )


async def _watch(
    conn: Connection, folder: Path, name: str, *, prune: bool, self_heal: bool, interval: float
) -> None:
    import asyncio
    import signal

    from reconciler.runtime.clock import MonotonicClock
    from reconciler.sync import watch_folder

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        async with open_store(conn) as store:
            await watch_folder(
                store,
                folder,
                name=name,
                changes=_file_changes(folder),
                report=_Reporter(),
                clock=MonotonicClock(),
                now=lambda: datetime.now(UTC),
                prune=prune,
                self_heal=self_heal,
                admission=_admission(store),
                interval=interval,
            )
    except asyncio.CancelledError:
        print(f"sync {name}: stopped", file=sys.stderr, flush=True)


async def _file_changes(folder: Path) -> AsyncIterator[object]:
    from watchfiles import awatch

    async for changes in awatch(folder, debounce=DEBOUNCE_MS, step=STEP_MS):
        yield changes


class _Reporter:
    """Prints the passes of --watch: errors on stderr (the watch goes on); on stdout
    the first pass, then those that wrote something or found drift."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, outcome: SyncResult | DcosError) -> None:
        from reconciler.sync import SyncResult

        if not isinstance(outcome, SyncResult):
            print_error(str(outcome))
            return
        if self.first or outcome.written or outcome.drift:
            self.first = False
            sys.stdout.write(_render(outcome))
            sys.stdout.flush()


def _render(result: SyncResult) -> str:
    """What one sync did: a header, one line per object written, the drift, a summary."""
    from collections import Counter

    from reconciler.sync import SyncState

    record = result.record
    commit = "no commit" if record.commit is None else f"commit {record.commit[:12]}"
    dirty = " (with uncommitted changes)" if record.dirty else ""
    lines = [f"sync {record.name}: {record.source} at {commit}{dirty}"]
    lines += [f"{r.key} {r.action.value}" for r in result.written]
    chunks: list[str] = []
    for status in result.drift:
        what = "deleted" if status.state is SyncState.MISSING else "changed"
        then = "put back" if result.healed else "left as is (--self-heal puts it back)"
        lines.append(f"drift: {status.key} {what} behind the folder's back: {then}")
        chunks.append(status.diff)
    counts = Counter(o.state for o in record.objects)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in SyncState if counts[s]) or "no objects"
    lines.append(f"sync {record.name}: {summary} (etcd revision {record.revision})")
    text = "\n".join(lines) + "\n"
    return text + "".join(c if c.endswith("\n") else c + "\n" for c in chunks if c)


# --------------------------------------------------------------- status


@sync.command("status")
@guard(ERROR)
def status(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(metavar="[NAME]", help="The sync (default: the only one recorded)."),
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir", metavar="DIR", help="Compare with this folder (default: the recorded one)."
        ),
    ] = None,
) -> None:
    """Show Synced / OutOfSync per object, with the diff of those out of sync;
    exit 1 when one is."""
    from reconciler.sync import SyncState

    if name is None and folder is not None:
        name = _name(folder, None)
    record, statuses = run(_status(connection(ctx), name, folder))
    commit = NONE if record.commit is None else record.commit[:12]
    dirty = " (with uncommitted changes)" if record.dirty else ""
    print(
        f"sync {record.name}: {folder or record.source} last synced at commit {commit}{dirty}, "
        f"{record.time.isoformat(timespec='seconds')}, etcd revision {record.revision}"
    )
    rows = [
        [s.key.kind, s.key.domain or NONE, s.key.name, s.state.value, s.message] for s in statuses
    ]
    table, _ = render_table(["KIND", "DOMAIN", "NAME", "STATUS", "MESSAGE"], rows)
    print("\n".join(line.rstrip() for line in table.splitlines()))
    for s in statuses:
        if s.diff:
            sys.stdout.write(s.diff if s.diff.endswith("\n") else s.diff + "\n")
    sys.stdout.flush()
    if any(s.state is not SyncState.SYNCED for s in statuses):
        raise typer.Exit(1)


async def _status(
    conn: Connection, name: str | None, folder: Path | None
) -> tuple[SyncRecord, list[ObjectStatus]]:
    from adapters.etcd import EtcdStore
    from crds.errors import SpecError
    from reconciler.sync import folder_status, read_folder, read_record

    async with open_store(conn) as store:
        if name is None:
            assert isinstance(store, EtcdStore)
            names = sorted(path.split("/", 1)[1] for path, _ in await store.list_raw("syncs/"))
            if len(names) != 1:
                found = ", ".join(names) if names else "none"
                raise SpecError(f"name the sync: dcosctl sync status NAME (recorded: {found})")
            name = names[0]
        record = await read_record(store, name)
        if record is None:
            raise SpecError(f"sync {name!r} has no record: run dcosctl sync DIR first")
        source = folder or Path(record.source)
        if not source.is_dir():
            raise SpecError("the sync's folder is not here: pass --dir DIR", source=str(source))
        manifests = read_folder(source)
        return record, await folder_status(store, manifests, record, name=name)
