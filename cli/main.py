"""``dcosctl``: the command line of simple-dcos.

The typer application and its global options (where etcd is: ``--etcd``,
``--prefix``, ``--context``, ``--timeout``; resolved by :mod:`cli.config`).
Each command lives in :mod:`cli.commands`; ``up`` and ``down`` call
:mod:`cli.up`. Start-up is kept fast by importing only typer and the standard
library here: the models, the store, the reconciler, YAML and rich load
inside the command that needs them.

Exit codes: 0 ok, 1 error, 2 usage (``diff`` and ``sync status``: 0 same,
1 different, 2 error).
"""

from __future__ import annotations

import enum
import gc
from pathlib import Path
from typing import Annotated

import typer

from cli.commands import guard
from cli.commands.admin import admin
from cli.commands.apply import apply
from cli.commands.delete import delete
from cli.commands.describe import describe
from cli.commands.diff import diff
from cli.commands.events import events
from cli.commands.explain import explain
from cli.commands.get import get
from cli.commands.hosts import hosts
from cli.commands.ipam import ipam
from cli.commands.plan import plan
from cli.commands.registry import registry
from cli.commands.rollout import rollout
from cli.commands.scale import scale
from cli.commands.scaling import scaling
from cli.commands.sync import sync
from cli.commands.version import version
from cli.config import GlobalOptions

__all__ = ["app", "run"]

app = typer.Typer(
    name="dcosctl",
    help="Declarative control of a Mesos data center: apply, diff, get, describe, delete.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    etcd: Annotated[
        str | None,
        typer.Option(
            "--etcd",
            metavar="URL[,URL]",
            help="etcd endpoints (else $DCOS_ETCD, the config context, http://127.0.0.1:2379).",
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", metavar="PREFIX", help="Key prefix in etcd (default /dcos)."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            metavar="NAME",
            help="Context of the config file (~/.config/dcosctl/config.yaml or $DCOS_CONFIG).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="SECONDS", min=0.01, help="Per etcd request (default 5)."
        ),
    ] = None,
) -> None:
    """Declarative control of a Mesos data center."""
    ctx.obj = GlobalOptions(etcd=etcd, prefix=prefix, context=context, timeout=timeout)


for command in (apply, plan, diff, get, describe, delete, scale, explain, events, version):
    app.command(no_args_is_help=command not in (version, events))(command)
app.add_typer(rollout)
app.add_typer(hosts)
app.add_typer(ipam)
app.add_typer(scaling)
app.add_typer(registry)
app.add_typer(admin)
app.add_typer(sync)


# The local data center: cli/up.py.


class Containerizer(enum.StrEnum):
    """How the local master's agents run tasks."""

    sim = "sim"
    docker = "docker"


@app.command("up")
@guard()
def up(
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where etcd keeps its data, pid and log.")
    ] = Path(".state"),
    specs: Annotated[
        Path, typer.Option("--specs", help="The folder of manifests to apply.")
    ] = Path("specs"),
    port: Annotated[int, typer.Option("--port", help="etcd's client port (peer: port+1).")] = 2379,
    mesos_port: Annotated[
        int, typer.Option("--mesos-port", help="The local Mesos master's port.")
    ] = 5050,
    containerizer: Annotated[
        Containerizer | None,
        typer.Option(
            "--containerizer",
            help="sim: simulated tasks; docker: real containers on a private dockerd "
            "(default: the one the state folder records, else sim).",
        ),
    ] = None,
) -> None:
    """Start the local data center (etcd, a Mesos master) and apply the specs folder."""
    from cli import up as local

    local.up(
        state_dir=state_dir,
        specs=specs,
        port=port,
        mesos_port=mesos_port,
        containerizer=None if containerizer is None else containerizer.value,
    )


@app.command("down")
@guard()
def down(
    state_dir: Annotated[Path, typer.Option("--state-dir", help="The folder up used.")] = Path(
        ".state"
    ),
    purge: Annotated[bool, typer.Option("--purge", help="Also remove the state folder.")] = False,
) -> None:
    """Stop the local data center started by up."""
    from cli import up as local

    local.down(state_dir=state_dir, purge=purge)


def run() -> None:
    """The console script's entry point.

    A command lives for one request and may decode tens of thousands of
    objects, none of them in reference cycles that matter for so short a
    life: the cyclic collector runs rarely, instead of every few hundred
    allocations.
    """
    gc.set_threshold(200_000, 50, 100)
    app(prog_name="dcosctl")
