"""``dcosctl apply``: make the store hold what the files say.

Parsing, validation, the three-way merge and pruning live in
:mod:`reconciler.apply`; this command reads the flags, calls
``load_manifests`` then ``apply_manifests``, and prints one line per object.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.commands import USAGE, connection, guard, open_store, read_manifests, run
from cli.config import Connection
from cli.output import fail

__all__ = ["apply", "default_applyset"]

FILES_HELP = "A file, a folder, or - for stdin; repeat for more."


def default_applyset(path: str) -> str | None:
    """The ApplySet name ``--prune`` uses without ``--applyset``: the base name
    of the first path, without a YAML/JSON suffix, in lower case, with other
    characters than letters, digits, '-' and '.' made '-' (None for stdin)."""
    if path == "-":
        return None
    name = Path(path).resolve().name
    for suffix in (".yaml", ".yml", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return name or None


@guard()
def apply(
    ctx: typer.Context,
    filenames: Annotated[
        list[str], typer.Option("--filename", "-f", metavar="FILE|DIR|-", help=FILES_HELP)
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="Descend into sub-folders.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and compare, write nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Delete objects of the ApplySet the files no longer hold."),
    ] = False,
    applyset: Annotated[
        str | None,
        typer.Option(
            "--applyset",
            metavar="NAME",
            help="The ApplySet to record membership in (default with --prune: "
            "the base name of the first -f path).",
        ),
    ] = None,
    if_revision: Annotated[
        int | None,
        typer.Option(
            "--if-revision",
            metavar="REV",
            min=0,
            help="Refuse (exit 1) if an object of the files changed after this etcd "
            "revision (the one dcosctl plan printed).",
        ),
    ] = None,
) -> None:
    """Create or update objects from YAML files, folders or stdin."""
    if prune and applyset is None:
        applyset = default_applyset(filenames[0])
        if applyset is None:
            fail(f"--prune with -f {filenames[0]} needs --applyset NAME", USAGE)
        print(f"applyset: {applyset} (from the first -f path)", file=sys.stderr)
    conn = connection(ctx)
    results = run(
        _apply(
            conn,
            filenames,
            recursive=recursive,
            dry_run=dry_run,
            prune=prune,
            applyset=applyset,
            if_revision=if_revision,
        )
    )
    suffix = " (dry run)" if dry_run else ""
    for line in results:
        print(f"{line}{suffix}")


async def _apply(
    conn: Connection,
    filenames: list[str],
    *,
    recursive: bool,
    dry_run: bool,
    prune: bool,
    applyset: str | None,
    if_revision: int | None = None,
) -> list[str]:
    from adapters.etcd import EtcdStore
    from adapters.etcd.ipam import EtcdIpam
    from reconciler.apply import apply_manifests
    from reconciler.apply.admission import FreezeAdmission, IPPoolAdmission

    manifests = read_manifests(filenames, recursive=recursive)
    async with open_store(conn) as store:
        assert isinstance(store, EtcdStore)
        results = await apply_manifests(
            store,
            manifests,
            dry_run=dry_run,
            prune=prune,
            applyset=applyset,
            if_revision=if_revision,
            admission=[
                IPPoolAdmission(EtcdIpam(store)),
                FreezeAdmission(store, lambda: datetime.now(UTC)),
            ],
        )
    return [f"{result.key} {result.action.value}" for result in results]
