"""``dcosctl scaling preview``: a day's timeline of a ScalingPolicy's instance counts.

The policy and its Domain are read from etcd, or with ``-f`` from files
(no etcd needed). :func:`reconciler.scaling.decide.timeline` evaluates the
schedules and ramp-downs at every boundary of the day in the Domain's time
zone; one row per change. Where the metric rule governs, the count shows its
bounds (``12-30``). The baseline is the policy's recorded one, else the
target App's ``spec.instances`` (from etcd or the files), else ``--baseline``.
"""

from __future__ import annotations

import contextlib
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import connection, guard, open_store, read_manifests, run
from cli.output import fail, render_table

if TYPE_CHECKING:
    from cli.config import Connection
    from crds.meta import Resource

__all__ = ["preview", "scaling"]

scaling = typer.Typer(
    name="scaling",
    help="Preview ScalingPolicy timelines.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@scaling.command("preview")
@guard()
def preview(
    ctx: typer.Context,
    policy: Annotated[str, typer.Argument(metavar="POLICY", help="The ScalingPolicy's name.")],
    domain: Annotated[str, typer.Option("--domain", "-d", metavar="DOMAIN", help="Its domain.")],
    day: Annotated[
        str, typer.Option("--date", metavar="YYYY-MM-DD", help="The day, in the domain's zone.")
    ],
    filenames: Annotated[
        list[str] | None,
        typer.Option("--filename", "-f", metavar="FILE", help="Read the objects from files."),
    ] = None,
    baseline: Annotated[
        int | None,
        typer.Option("--baseline", metavar="N", min=0, help="The App's own instance count."),
    ] = None,
) -> None:
    """Print the day's instance counts of POLICY: one row per change, time + count + why."""
    from crds.app import App
    from crds.domain import Domain
    from crds.scalingpolicy import ScalingPolicy
    from reconciler.scaling.decide import timeline

    try:
        when = date.fromisoformat(day)
    except ValueError:
        fail(f"--date {day!r} is not a date like 2026-11-11", code=2)
    if filenames:
        objects: list[Resource] = [m.obj for m in read_manifests(filenames, recursive=False)]
    else:
        objects = run(_read(connection(ctx), domain, policy))
    found = {(o.kind, o.metadata.domain, o.metadata.name): o for o in objects}
    sp = found.get(("ScalingPolicy", domain, policy))
    dom = found.get(("Domain", None, domain))
    if not isinstance(sp, ScalingPolicy):
        fail(f"ScalingPolicy {domain}/{policy} not found")
    if not isinstance(dom, Domain):
        fail(f"Domain {domain} not found")
    app = found.get(("App", domain, sp.spec.target_ref.name))
    floor = sp.status.baseline_instances
    if floor is None:
        floor = app.spec.instances if isinstance(app, App) else baseline
    if floor is None:
        floor = 0
    rows = timeline(sp, dom, when, baseline=floor)
    table = [[f"{r.time:%H:%M}", r.count, r.reason] for r in rows]
    print(f"{domain}/{policy} on {when} ({dom.spec.timezone})")
    print(render_table(["TIME", "INSTANCES", "WHY"], table)[0])


async def _read(conn: Connection, domain: str, policy: str) -> list[Resource]:
    from adapters.protocols import ObjectKey
    from crds.errors import NotFound

    objects: list[Resource] = []
    async with open_store(conn) as store:
        for key in (ObjectKey("ScalingPolicy", domain, policy), ObjectKey("Domain", None, domain)):
            with contextlib.suppress(NotFound):
                objects.append(await store.get(key))
        from crds.scalingpolicy import ScalingPolicy

        sp = next((o for o in objects if isinstance(o, ScalingPolicy)), None)
        if sp is not None:
            with contextlib.suppress(NotFound):
                objects.append(await store.get(ObjectKey("App", domain, sp.spec.target_ref.name)))
    return objects
