"""What ``dcosctl rollout`` and ``scale`` show and write, apart from rendering.

Reading (pure functions):

* :func:`progress_of` turns an App's status into a :class:`RolloutProgress`:
  updated, healthy and wanted instances, and whether the rollout is still
  going, complete or failed. A status counts only once the controller has
  observed the App's current generation (``status.observedGeneration``), so
  a rollout that was just started is never reported complete from the
  status of the spec before it. A rollout rolled back by the controller
  (``autoRollback``) has failed, even while the rollback progresses; one
  whose App is moving instances off draining hosts
  (``MovingOffDrainingHosts``) is complete: the revision is rolled out, and
  a drain that waits for room elsewhere must not hold up a deploy;
* :func:`history_of` lists the revisions of a stored
  :class:`~reconciler.apps.version.RolloutState` with, for each, what
  changed from the revision before it (:func:`change_between`).

Writing (through :class:`adapters.protocols.Store` only):

* :func:`read_rollout` reads the rollout state the App controller persists
  (``rollouts/<domain>/<app>``, see :mod:`reconciler.apps.records`);
* :func:`update_app` is a compare-and-swap update of an App's spec, made
  again from a fresh read when another writer wins, as ``kubectl scale``
  and ``rollout undo`` retry; :func:`scale_app` and :func:`undo_app` use it.

Neither write touches the ``dcos/last-applied-configuration`` annotation,
as kubectl leaves it alone: a later ``apply`` of a file that sets the same
field sets it back to the file's value (``docs/commands/scale.md``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.protocols import ObjectKey, Store
from crds.app import App, AppSpec
from crds.errors import ConflictError, DcosError, NotFound
from crds.meta import ConditionStatus
from reconciler.apps.records import rollout_path
from reconciler.apps.status import DEGRADED, MOVING, PROGRESSING
from reconciler.apps.version import RolloutState, UnknownRevision, undo

__all__ = [
    "UPDATE_ATTEMPTS",
    "HistoryEntry",
    "Phase",
    "RolloutProgress",
    "change_between",
    "history_of",
    "progress_of",
    "read_app",
    "read_rollout",
    "scale_app",
    "undo_app",
    "update_app",
]

logger = logging.getLogger(__name__)

UPDATE_ATTEMPTS = 5
"""Compare-and-swap attempts of :func:`update_app` before a ConflictError."""
_RETRY_DELAY = 0.05  # seconds before the second attempt, doubled each time

FAILED_REASON = "ProgressDeadlineExceeded"
COMPLETE_REASON = "RolloutComplete"
ROLLED_BACK_REASON = "RolledBack"


class Phase(enum.StrEnum):
    WAITING = "Waiting"
    """The controller has not observed the current spec yet."""
    PROGRESSING = "Progressing"
    COMPLETE = "Complete"
    FAILED = "Failed"
    """No progress before the deadline (Progressing=False, ProgressDeadlineExceeded),
    or rolled back after that (Degraded=True, RolledBack)."""


@dataclass(frozen=True)
class RolloutProgress:
    """One App's rollout as its status tells it."""

    key: ObjectKey
    phase: Phase
    wanted: int  # spec.instances
    updated: int  # live instances of the target version
    healthy: int  # healthy instances of the target version
    revision: int | None
    message: str  # the Progressing condition's message, or why we wait

    @property
    def done(self) -> bool:
        return self.phase in (Phase.COMPLETE, Phase.FAILED)

    def line(self) -> str:
        """``App/shop/web: 2 of 3 updated, 1 healthy (revision 4): rolling out ...``."""
        revision = f" (revision {self.revision})" if self.revision else ""
        counts = f"{self.updated} of {self.wanted} updated, {self.healthy} healthy"
        tail = f": {self.message}" if self.message else ""
        return f"{self.key}: {counts}{revision}{tail}"


def progress_of(app: App) -> RolloutProgress:
    """Where ``app``'s rollout stands, from its status alone."""
    status, meta = app.status, app.metadata
    key = ObjectKey.of(app)
    wanted = app.spec.instances
    observed = status.observed_generation
    current = meta.generation is None or (observed is not None and observed >= meta.generation)
    if not current:
        message = "waiting for the controller to observe the new spec"
        return RolloutProgress(key, Phase.WAITING, wanted, 0, 0, status.revision, message)
    condition = next((c for c in status.conditions if c.type == PROGRESSING), None)
    updated = status.updated_instances or 0
    healthy = status.ready_instances or 0
    phase = Phase.PROGRESSING
    message = condition.message if condition is not None else "no Progressing condition yet"
    degraded = next((c for c in status.conditions if c.type == DEGRADED), None)
    if (
        degraded is not None
        and degraded.reason == ROLLED_BACK_REASON
        and degraded.status is ConditionStatus.TRUE
    ):
        phase, message = Phase.FAILED, f"rolled back: {degraded.message}"
    elif condition is not None and condition.reason in (COMPLETE_REASON, MOVING):
        phase = Phase.COMPLETE if condition.status is ConditionStatus.TRUE else phase
    elif condition is not None and condition.reason == FAILED_REASON:
        phase = Phase.FAILED if condition.status is ConditionStatus.FALSE else phase
    return RolloutProgress(key, phase, wanted, updated, healthy, status.revision, message)


@dataclass(frozen=True)
class HistoryEntry:
    revision: int
    version: str
    created_at: datetime
    outcome: str
    change: str
    current: bool  # the revision instances converge to now


def change_between(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str:
    """What a revision changed: ``image=repo:2``, else the spec fields that differ.

    The first revision (``before`` None) shows its image.
    """
    image = f"image={after.get('image', '?')}"
    if before is None or before.get("image") != after.get("image"):
        return image
    names = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return ", ".join(names) or "no spec change"


def history_of(state: RolloutState) -> list[HistoryEntry]:
    """The revisions oldest first, each with what changed from the one listed before it."""
    entries: list[HistoryEntry] = []
    before: Mapping[str, Any] | None = None
    for rev in state.history:
        entries.append(
            HistoryEntry(
                revision=rev.revision,
                version=rev.version,
                created_at=rev.created_at,
                outcome=str(rev.outcome),
                change=change_between(before, rev.spec),
                current=rev.revision == state.revision,
            )
        )
        before = rev.spec
    return entries


async def read_app(store: Store, key: ObjectKey) -> App:
    """The App at ``key``; NotFound (a DcosError) when absent."""
    obj = await store.get(key)
    if not isinstance(obj, App):
        raise NotFound(f"{key} is a {obj.kind}, not an App")
    return obj


async def read_rollout(store: Store, key: ObjectKey) -> RolloutState:
    """The rollout state the App controller keeps for ``key`` (the App must exist)."""
    await read_app(store, key)
    raw = await store.get_raw(rollout_path(key.domain or "", key.name))
    if raw is None:
        raise NotFound(f"{key} has no rollout history yet (the controller has not planned it)")
    return RolloutState.from_json(raw)


async def update_app(
    store: Store, key: ObjectKey, change: Callable[[App], App], *, attempts: int = UPDATE_ATTEMPTS
) -> App:
    """Write ``change(app)`` over the App as read, compare-and-swap; a lost race reads again."""
    for attempt in range(1, attempts + 1):
        app = await read_app(store, key)
        if app.metadata.deletion_timestamp is not None:
            raise ConflictError(f"{key} is being deleted")
        changed = change(app)
        if changed.spec == app.spec:
            return app
        try:
            stored = await store.update(changed)
        except ConflictError as exc:
            if attempt == attempts:
                raise ConflictError(
                    f"{key} kept changing; gave up after {attempts} attempts"
                ) from exc
            logger.info("%s changed while being updated (%s); reading it again", key, exc)
            await asyncio.sleep(_RETRY_DELAY * 2 ** (attempt - 1))
            continue
        assert isinstance(stored, App)
        return stored
    raise AssertionError("unreachable: the last attempt returns or raises")


def _with_spec(app: App, spec: AppSpec) -> App:
    return app.model_copy(update={"spec": spec})


async def scale_app(store: Store, key: ObjectKey, instances: int) -> int:
    """Set ``spec.instances`` (a scale never starts a rollout); returns the count before."""
    if instances < 0:
        raise DcosError(f"instances must be 0 or more, not {instances}")
    before: list[int] = []

    def change(app: App) -> App:
        before.append(app.spec.instances)
        return _with_spec(app, app.spec.model_copy(update={"instances": instances}))

    await update_app(store, key, change)
    return before[-1]


async def undo_app(store: Store, key: ObjectKey, to_revision: int | None = None) -> int:
    """Write back the spec of ``to_revision`` (the one before the current by default),
    at today's instances, upgrade strategy and backoff; returns the revision number."""

    chosen: list[int] = []

    def change(app: App) -> App:
        try:
            wire = undo(state, to_revision, current=app.spec)
        except UnknownRevision as exc:
            raise DcosError(f"{key}: {exc}") from None
        chosen.append(_revision_of(state, to_revision))
        return _with_spec(app, AppSpec.model_validate(wire))

    state = await read_rollout(store, key)
    await update_app(store, key, change)
    return chosen[-1]


def _revision_of(state: RolloutState, to_revision: int | None) -> int:
    if to_revision is not None:
        return to_revision
    older: Sequence[int] = [r.revision for r in state.history if r.revision < state.revision]
    return older[-1]
