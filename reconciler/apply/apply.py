"""``dcosctl apply`` and ``delete``: plan from one read, write in one commit.

:func:`apply_manifests` takes manifests already validated by
:mod:`reconciler.apply.manifests` and

1. reads the live state with one ``store.list`` per kind involved (not one
   ``get`` per object, so a thousand objects cost a handful of calls);
2. plans each object with the three-way merge of
   :mod:`reconciler.apply.merge`: CREATED when it is not live, CONFIGURED
   when the merged result differs from the live metadata or spec, UNCHANGED
   otherwise; with ``prune``, the ApplySet members to delete
   (:mod:`reconciler.apply.applyset`);
3. writes every create, update and prune delete through ONE
   :meth:`Store.commit`, which batches them into as few etcd transactions as
   etcd allows. Every update and delete names the live ``resourceVersion``,
   so it is a compare-and-swap;
4. records a Created / Configured event per object written.

When a compare-and-swap loses (someone wrote meanwhile: ConflictError, or
deleted an object being updated: NotFound), the whole plan is
made again from a fresh read, so the other writer's fields are merged rather
than overwritten, up to :data:`ATTEMPTS` times with a short, growing,
jittered pause; then a ConflictError says which objects were being written.
A transaction of an earlier attempt may have gone through; an object it
wrote reads as unchanged afterwards and is reported with the action that
attempt planned.

Before step 3 (and in a dry run too), every admission check given
(:mod:`reconciler.apply.admission`) sees each object about to be updated; a
refusal raises and nothing is written.

``dry_run`` stops after step 2: the results are what would happen (the
object returned is the one that would be written) and nothing is written.

:func:`delete_objects` deletes by key; an object held by finalizers is
reported as DELETING.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.protocols import Create, Delete, ObjectKey, Store, Update, WriteOp
from crds.app import App
from crds.errors import ConflictError, DcosError, NotFound, SpecError, StoreError
from crds.events import Event, InvolvedObject
from crds.meta import Resource
from crds.registry import KINDS
from crds.scalingpolicy import ScalingPolicy
from reconciler.apply.admission import AdmissionCheck
from reconciler.apply.applyset import (
    Member,
    check_applyset,
    prune_candidates,
    read_membership,
    write_membership,
)
from reconciler.apply.manifests import Manifest
from reconciler.apply.merge import merged_object

__all__ = [
    "ATTEMPTS",
    "Action",
    "ApplyResult",
    "apply_manifests",
    "check_unchanged_since",
    "delete_objects",
    "read_live",
]

logger = logging.getLogger(__name__)

ATTEMPTS = 5
"""How many times apply plans and commits before giving up on conflicts."""
BACKOFF = 0.05
"""Seconds before the first retry; doubled each time, with jitter."""
EVENT_SOURCE = "dcosctl"


class Action(enum.StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    DELETED = "deleted"
    DELETING = "deleting"
    """Deletion was asked for, but finalizers hold the object."""


@dataclass(frozen=True)
class ApplyResult:
    """What happened to one object; ``obj`` is it as stored (None once gone)."""

    key: ObjectKey
    action: Action
    obj: Resource | None


@dataclass
class _Plan:
    """One attempt's decisions; ``ops[i]`` produces ``results[writes[i]]``."""

    results: list[ApplyResult] = field(default_factory=list)
    ops: list[WriteOp] = field(default_factory=list)
    writes: list[int] = field(default_factory=list)  # index into results, per op

    def add(self, result: ApplyResult, op: WriteOp | None = None) -> None:
        if op is not None:
            self.ops.append(op)
            self.writes.append(len(self.results))
        self.results.append(result)


async def apply_manifests(
    store: Store,
    manifests: Sequence[Manifest],
    *,
    dry_run: bool = False,
    prune: bool = False,
    applyset: str | None = None,
    if_revision: int | None = None,
    admission: Sequence[AdmissionCheck] = (),
    hold: AbstractSet[ObjectKey] = frozenset(),
) -> list[ApplyResult]:
    """Create or update every manifest's object; with ``prune``, delete the set's leftovers.

    Results come in manifest order, then the pruned objects by key. With
    ``if_revision`` (the revision ``dcosctl plan`` printed), nothing is written
    and a ConflictError names the first object of the manifests whose spec side
    changed after that revision (see :func:`check_unchanged_since`).

    ``hold`` names members of ``applyset`` that are not applied this time
    (``dcosctl sync`` applies only the objects that differ, and leaves drift
    alone without ``--self-heal``): they stay in the set and are never pruned.
    """
    check_applyset(applyset, prune=prune)
    _check_unique(manifests)
    previous = await read_membership(store, applyset) if applyset else []
    current = {ObjectKey.of(m.obj) for m in manifests} | set(hold)
    wanted = current | {m.key for m in previous if prune and m.key.kind in KINDS}
    planned: dict[ObjectKey, Action] = {}  # writes of failed attempts, which may have landed
    for attempt in range(1, ATTEMPTS + 1):
        live = await read_live(store, wanted)
        if if_revision is not None:
            check_unchanged_since(if_revision, current, live)
        scaled = await scaled_apps(store, manifests)
        plan = _plan(manifests, live, applyset=applyset, scaled=scaled)
        if prune:
            assert applyset is not None
            _plan_prune(plan, prune_candidates(applyset, previous, current, live))
        await _admit(admission, manifests, plan, live)
        if dry_run:
            return plan.results
        if applyset is not None and attempt == 1:  # before the first write; see applyset.py
            await write_membership(store, applyset, [*previous, *map(Member, current)])
        try:
            stored = await store.commit(plan.ops) if plan.ops else []
        except (ConflictError, NotFound) as exc:  # someone wrote or deleted meanwhile
            planned = {plan.results[i].key: plan.results[i].action for i in plan.writes} | planned
            await _backoff(attempt, plan, exc)
            continue
        results = _finish(plan, stored, planned)
        logger.info("applied %d objects: %s", len(results), _summary(results))
        await _record_events(store, results)
        if applyset is not None:
            kept = [m for m in previous if m.key in hold] + [Member(key) for key in hold]
            kept += [] if prune else [m for m in previous if m.key not in current]
            written = [Member.of(r.obj) for r in results if r.obj is not None and r.key in current]
            await write_membership(store, applyset, [*kept, *written])
        return results
    raise AssertionError("unreachable: the last attempt returns or raises")


def check_unchanged_since(
    revision: int, keys: Iterable[ObjectKey], live: dict[ObjectKey, Resource]
) -> None:
    """ConflictError unless every live object among ``keys`` was last written at or
    before ``revision``.

    An object's ``resourceVersion`` is the etcd revision of its last spec-side
    write (status writes do not move it), so controllers updating status do
    not count as a change, while a create, an apply, a scale or an undo does.
    An object deleted since cannot be told from one that never existed; the
    compare-and-swap of the commit covers writes after this read.
    """
    for key in sorted(keys):
        obj = live.get(key)
        version = obj.metadata.resource_version if obj is not None else None
        if version is not None and int(version) > revision:
            raise ConflictError(
                f"{key} changed after revision {revision} (now at {version}): "
                "plan again before applying"
            )


async def _admit(
    checks: Sequence[AdmissionCheck],
    manifests: Sequence[Manifest],
    plan: _Plan,
    live: dict[ObjectKey, Resource],
) -> None:
    """Run every check on each planned update; the first refusal propagates."""
    if not checks:
        return
    by_key = {ObjectKey.of(m.obj): m for m in manifests}
    for result in plan.results:
        current = live.get(result.key)
        manifest = by_key.get(result.key)
        if result.action is not Action.CONFIGURED or current is None or manifest is None:
            continue
        assert result.obj is not None
        for check in checks:
            await check(manifest, current, result.obj)


def _plan_prune(plan: _Plan, candidates: Iterable[Resource]) -> None:
    for obj in candidates:
        key = ObjectKey.of(obj)
        op = Delete(key, obj.metadata.resource_version)
        plan.add(ApplyResult(key, Action.PRUNED, None), op)


async def _backoff(attempt: int, plan: _Plan, exc: DcosError) -> None:
    """Sleep before the next attempt, or raise ConflictError after the last one."""
    if attempt >= ATTEMPTS:
        keys = ", ".join(str(plan.results[i].key) for i in plan.writes[:5])
        raise ConflictError(
            f"gave up after {ATTEMPTS} attempts: objects kept changing while "
            f"being applied ({keys}): {exc}"
        ) from exc
    delay = BACKOFF * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
    logger.info("conflict on attempt %d (%s); retrying in %.2fs", attempt, exc, delay)
    await asyncio.sleep(delay)


def _check_unique(manifests: Sequence[Manifest]) -> None:
    seen: dict[ObjectKey, Manifest] = {}
    for m in manifests:
        key = ObjectKey.of(m.obj)
        if key in seen:
            first = seen[key]
            raise SpecError(
                f"{key} is defined twice: in {first.source}: document {first.document} "
                f"and in {m.source}: document {m.document}",
                source=m.source,
                document=m.document,
            )
        seen[key] = m


async def read_live(store: Store, keys: Iterable[ObjectKey]) -> dict[ObjectKey, Resource]:
    """The live objects among ``keys``' kinds: one ``list`` per kind (narrowed to the
    domain when every key of that kind is in the same one), never a ``get`` per object."""
    domains: dict[str, set[str | None]] = {}
    for key in keys:
        domains.setdefault(key.kind, set()).add(key.domain)
    live: dict[ObjectKey, Resource] = {}
    for kind in sorted(domains):
        only = next(iter(domains[kind])) if len(domains[kind]) == 1 else None
        listed = await store.list(kind, domain=only)
        live.update((ObjectKey.of(obj), obj) for obj in listed.items)
    logger.debug("read %d live objects of %d kinds", len(live), len(domains))
    return live


async def scaled_apps(store: Store, manifests: Sequence[Manifest]) -> set[tuple[str, str]]:
    """``(domain, name)`` of the Apps whose instance count a ScalingPolicy owns: those
    in the store and those among ``manifests``; empty when no App is applied."""
    if not any(isinstance(m.obj, App) for m in manifests):
        return set()
    policies = list((await store.list("ScalingPolicy")).items)
    policies += [m.obj for m in manifests]
    return {
        (p.metadata.domain or "", p.spec.target_ref.name)
        for p in policies
        if isinstance(p, ScalingPolicy)
    }


def keep_scaled_count(
    merged: Resource, current: Resource | None, scaled: AbstractSet[tuple[str, str]]
) -> Resource:
    """``merged`` with the live instance count when a ScalingPolicy owns it: applying
    (or diffing) a file never undoes what the policy decided."""
    if (
        isinstance(merged, App)
        and isinstance(current, App)
        and (merged.metadata.domain or "", merged.metadata.name) in scaled
    ):
        spec = merged.spec.model_copy(update={"instances": current.spec.instances})
        return merged.model_copy(update={"spec": spec})
    return merged


def _plan(
    manifests: Sequence[Manifest],
    live: dict[ObjectKey, Resource],
    *,
    applyset: str | None,
    scaled: AbstractSet[tuple[str, str]] = frozenset(),
) -> _Plan:
    plan = _Plan()
    for m in manifests:
        key = ObjectKey.of(m.obj)
        current = live.get(key)
        merged = merged_object(
            m.obj, current, applyset=applyset, source=m.source, document=m.document
        )
        merged = keep_scaled_count(merged, current, scaled)
        if current is None:
            plan.add(ApplyResult(key, Action.CREATED, merged), Create(merged))
        elif merged.to_wire(with_status=False) != current.to_wire(with_status=False):
            plan.add(ApplyResult(key, Action.CONFIGURED, merged), Update(merged))
        else:
            plan.add(ApplyResult(key, Action.UNCHANGED, current))
    return plan


def _summary(results: Sequence[ApplyResult]) -> str:
    counts = Counter(r.action for r in results)
    return ", ".join(f"{counts[a]} {a}" for a in Action if counts[a]) or "nothing"


def _finish(
    plan: _Plan, stored: Sequence[Resource | None], planned: dict[ObjectKey, Action]
) -> list[ApplyResult]:
    """The plan's results with what the store returned, and earlier attempts' writes."""
    results = list(plan.results)
    for index, obj in zip(plan.writes, stored, strict=True):
        result = results[index]
        action = result.action
        if action is Action.PRUNED and obj is not None:
            action = Action.DELETING
        results[index] = ApplyResult(result.key, action, obj)
    for i, result in enumerate(results):
        earlier = planned.get(result.key)
        if result.action is Action.UNCHANGED and earlier is not None:
            results[i] = ApplyResult(result.key, earlier, result.obj)
    return results


async def _record_events(store: Store, results: Sequence[ApplyResult]) -> None:
    """A Created / Configured event per written object; failures are logged, not raised."""
    reasons = {Action.CREATED: "Created", Action.CONFIGURED: "Configured"}
    now = datetime.now(UTC)
    events = [
        Event(
            involved_object=InvolvedObject(
                kind=result.key.kind,
                name=result.obj.metadata.name,
                domain=result.obj.metadata.domain,
                uid=result.obj.metadata.uid,
            ),
            reason=reasons[result.action],
            message=f"{result.key} {result.action} by dcosctl apply",
            source=EVENT_SOURCE,
            first_timestamp=now,
            last_timestamp=now,
        )
        for result in results
        if result.action in reasons and result.obj is not None
    ]
    try:
        await store.record_events(events)
    except StoreError as exc:
        logger.warning("could not record %d apply events: %s", len(events), exc)


async def delete_objects(store: Store, keys: Sequence[ObjectKey]) -> list[ApplyResult]:
    """Delete each object in order; NotFound propagates (earlier deletions stay done)."""
    results: list[ApplyResult] = []
    for key in keys:
        remaining = await store.delete(key)
        action = Action.DELETED if remaining is None else Action.DELETING
        logger.info("%s %s", key, action)
        results.append(ApplyResult(key, action, remaining))
    return results
