"""Spec versions, the rollout history and the rollout state machine.

:func:`spec_version` names what an instance runs: a hash of every part of
the spec that needs new containers to change. Everything is hashed except
the *operational* fields (:data:`OPERATIONAL_FIELDS`):

- ``instances``: a change of it alone is a scale, never a rollout;
- ``upgradeStrategy``, ``backoff`` and ``progressDeadlineSeconds``: they
  steer the controller, not the containers.

Constraints *are* part of the version, as in Marathon: moving an app to other
racks is what changing them is for, and a declarative system should converge
instead of leaving instances where the spec no longer allows them. The
replacement is rolled, so capacity bounds hold while it happens. Labels are
part of it too: they are put on the Mesos tasks and Docker containers.

The hash is over canonical JSON (sorted keys, defaults left out, constraints
sorted because they all must hold whatever their order), so the order of a
YAML mapping never restarts anything, and a new optional field with a default
added to :class:`~crds.app.AppSpec` does not restart every app.

:class:`RolloutState` is what the controller persists between reconciles
(its own etcd key, ``<prefix>/rollouts/<domain>/<app>``, as JSON): the target
version and its progress, the previous good version, the launch backoff
count, and the history of revisions with a spec snapshot each, on which
``dcosctl rollout history`` and ``rollout undo --to-revision N``
(:func:`undo`) are built.

:func:`advance_rollout` is its state machine, run first by
:mod:`reconciler.apps.plan`:

- a spec version that is neither the target nor the one rolled back from
  starts a rollout: a new revision, phase Progressing; the target it
  replaces becomes the previous good version if its rollout completed (an
  unfinished one is marked Superseded);
- the rollout progresses while the healthy count of the target grows, and
  completes when exactly ``instances`` instances run the target, all
  healthy, and no other version is left;
- without progress for the deadline it fails (and keeps trying, as
  Kubernetes does); with auto-rollback the target becomes the previous good
  version and the spec's version stays rolled back until the spec changes.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from crds.app import AppSpec
from crds.meta import DcosModel
from reconciler.apps.backoff import BackoffState
from reconciler.apps.instances import Instance, InstanceState

__all__ = [
    "OPERATIONAL_FIELDS",
    "Revision",
    "RevisionOutcome",
    "RolloutPhase",
    "RolloutState",
    "UnknownRevision",
    "advance_rollout",
    "record_revision",
    "spec_snapshot",
    "spec_version",
    "undo",
    "with_operational_fields",
]

OPERATIONAL_FIELDS = ("instances", "upgradeStrategy", "backoff", "progressDeadlineSeconds")
"""Wire names of the spec fields that never change the version."""

VERSION_LENGTH = 16
"""Hex digits of the sha256 kept: 64 bits, plenty for the versions of one app."""


def spec_snapshot(spec: AppSpec) -> dict[str, Any]:
    """The spec as it is written to YAML and etcd (camelCase, no nulls)."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def spec_version(spec: AppSpec) -> str:
    """A stable hash of what the containers run: equal specs give equal versions."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for name in OPERATIONAL_FIELDS:
        data.pop(name, None)
    if "constraints" in data:
        data["constraints"] = sorted(data["constraints"], key=_canonical)
    return hashlib.sha256(_canonical(data).encode()).hexdigest()[:VERSION_LENGTH]


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def with_operational_fields(snapshot: Mapping[str, Any], current: AppSpec) -> AppSpec:
    """The spec of ``snapshot`` with the operational fields of ``current``.

    What a rollback launches: the old containers at today's scale.
    """
    operational = {k: v for k, v in spec_snapshot(current).items() if k in OPERATIONAL_FIELDS}
    base = {k: v for k, v in snapshot.items() if k not in OPERATIONAL_FIELDS}
    return AppSpec.model_validate({**base, **operational})


class RevisionOutcome(enum.StrEnum):
    PROGRESSING = "Progressing"
    COMPLETE = "Complete"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"


class RolloutPhase(enum.StrEnum):
    PROGRESSING = "Progressing"
    """Instances of the target version are being started or old ones stopped."""
    COMPLETE = "Complete"
    """Every instance runs the target version and is healthy."""
    FAILED = "Failed"
    """No progress within the deadline; the rollout keeps trying (unless rolled back)."""


class Revision(DcosModel):
    """One version the app was rolled out to."""

    revision: int
    """Grows by one for each new version; a version rolled out again gets a new number."""
    version: str
    """:func:`spec_version` of ``spec``."""
    spec: dict[str, Any]
    """The spec as applied (wire form), for undo and history."""
    created_at: datetime
    """When the rollout to it started."""
    outcome: RevisionOutcome = RevisionOutcome.PROGRESSING
    """How its rollout went."""


class RolloutState(DcosModel):
    """What the App controller remembers between reconciles (see the module docstring)."""

    revision: int = 0
    """The revision number of the target version; 0 before the first plan."""
    target_version: str | None = None
    """The version instances converge to: the spec's, or the previous good one after a
    rollback."""
    previous_version: str | None = None
    """The last version whose rollout completed before the target's; rollbacks go there."""
    phase: RolloutPhase = RolloutPhase.PROGRESSING
    """Where the rollout to the target stands."""
    started_at: datetime | None = None
    """When the rollout to the target started."""
    last_progress_at: datetime | None = None
    """When the healthy count of the target version last grew."""
    progress_mark: int = 0
    """The highest healthy count of the target version seen in this rollout."""
    rolled_back_from: str | None = None
    """The spec's version when it failed and the target went back; cleared by a new spec."""
    rollback_reason: str = ""
    """The last task failure of ``rolled_back_from`` when it was rolled back, if any."""
    blocked: bool = False
    """The capacity bounds leave no room to replace an instance (see plan)."""
    backoff: BackoffState = BackoffState()
    """Consecutive failures of the target version."""
    history: tuple[Revision, ...] = ()
    """Revisions, oldest first."""

    def find(self, *, version: str | None = None, revision: int | None = None) -> Revision | None:
        """The revision with this version or number, if it is still in the history."""
        for rev in self.history:
            if (version is None or rev.version == version) and (
                revision is None or rev.revision == revision
            ):
                return rev
        return None

    def with_outcome(self, version: str | None, outcome: RevisionOutcome) -> RolloutState:
        """The state with the revision of ``version`` marked ``outcome``."""
        history = tuple(
            rev.model_copy(update={"outcome": outcome}) if rev.version == version else rev
            for rev in self.history
        )
        return self.model_copy(update={"history": history})

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> RolloutState:
        return cls.model_validate_json(data)


def record_revision(
    state: RolloutState, *, spec: AppSpec, version: str, now: datetime, limit: int
) -> RolloutState:
    """The state with ``spec`` appended as the newest revision (and made the target).

    A version already in the history moves to the new number, as Kubernetes
    does. At most ``limit`` revisions are kept, but never the new target's nor
    the previous good version's.
    """
    number = max((rev.revision for rev in state.history), default=0) + 1
    new = Revision(revision=number, version=version, spec=spec_snapshot(spec), created_at=now)
    history = [rev for rev in state.history if rev.version != version] + [new]
    keep = {version, state.previous_version}
    while len(history) > max(limit, 1):
        drop = next((rev for rev in history if rev.version not in keep), None)
        if drop is None:
            break
        history.remove(drop)
    return state.model_copy(
        update={"revision": number, "target_version": version, "history": tuple(history)}
    )


class UnknownRevision(LookupError):
    """The revision asked for is not (or no longer) in the history."""


def undo(
    state: RolloutState, to_revision: int | None = None, *, current: AppSpec | None = None
) -> dict[str, Any]:
    """The spec (wire form) that rolls the app back to ``to_revision``.

    Without a number, the revision before the current one. With ``current``,
    its operational fields (instances, upgrade strategy, backoff, progress
    deadline) are kept, as ``kubectl rollout undo`` keeps the replica count.
    Writing the result as the App's spec starts an ordinary rollout.
    """
    if to_revision is None:
        older = [rev for rev in state.history if rev.revision < state.revision]
        if not older:
            raise UnknownRevision(f"no revision before revision {state.revision}")
        target = older[-1]
    else:
        found = state.find(revision=to_revision)
        if found is None:
            known = ", ".join(str(rev.revision) for rev in state.history) or "none"
            raise UnknownRevision(f"revision {to_revision} not found (known: {known})")
        target = found
    if current is None:
        return dict(target.spec)
    return spec_snapshot(with_operational_fields(target.spec, current))


def advance_rollout(
    state: RolloutState,
    *,
    spec: AppSpec,
    instances: Sequence[Instance],
    wanted: int,
    now: datetime,
    deadline: timedelta,
    auto_rollback: bool,
    history_limit: int,
) -> RolloutState:
    """The rollout state after seeing ``spec`` and ``instances`` (``wanted`` of them) at ``now``."""
    state = _follow_spec(state, spec, instances, now, history_limit)
    target = state.target_version
    healthy = _healthy(instances, target)
    if healthy > state.progress_mark:
        state = state.model_copy(update={"progress_mark": healthy, "last_progress_at": now})
        if state.phase is RolloutPhase.FAILED:
            state = state.with_outcome(target, RevisionOutcome.PROGRESSING)
            state = state.model_copy(update={"phase": RolloutPhase.PROGRESSING})
    active = [i for i in instances if i.is_active]
    only_target = all(i.version == target for i in active)
    live = sum(i.state is not InstanceState.KILLING for i in active)
    if only_target and live == wanted and healthy >= wanted:
        return _complete(state)
    since = state.last_progress_at or now
    if state.phase is not RolloutPhase.PROGRESSING or now - since <= deadline:
        return state
    state = state.with_outcome(target, RevisionOutcome.FAILED)
    state = state.model_copy(update={"phase": RolloutPhase.FAILED})
    previous = state.find(version=state.previous_version)
    if not auto_rollback or previous is None or previous.version == target:
        return state
    state = state.with_outcome(target, RevisionOutcome.ROLLED_BACK)
    reason = state.backoff.message if state.backoff.version == target else ""
    return state.model_copy(
        update={
            "rolled_back_from": target,
            "rollback_reason": reason,
            "target_version": previous.version,
            "revision": previous.revision,
            "phase": RolloutPhase.PROGRESSING,
            "started_at": now,
            "last_progress_at": now,
            "progress_mark": _healthy(instances, previous.version),
            "blocked": False,
        }
    )


def _healthy(instances: Sequence[Instance], version: str | None) -> int:
    return sum(i.is_healthy and i.version == version for i in instances)


def _follow_spec(
    state: RolloutState,
    spec: AppSpec,
    instances: Sequence[Instance],
    now: datetime,
    history_limit: int,
) -> RolloutState:
    """Start a rollout when the spec's version is new (not the target, not rolled back)."""
    version = spec_version(spec)
    if version in (state.target_version, state.rolled_back_from):
        return state
    previous = state.previous_version
    if state.target_version is not None and state.phase is RolloutPhase.COMPLETE:
        previous = state.target_version
    current = state.find(version=state.target_version)
    if current is not None and current.outcome is RevisionOutcome.PROGRESSING:
        state = state.with_outcome(current.version, RevisionOutcome.SUPERSEDED)
    state = state.model_copy(update={"previous_version": previous})
    state = record_revision(state, spec=spec, version=version, now=now, limit=history_limit)
    return state.model_copy(
        update={
            "phase": RolloutPhase.PROGRESSING,
            "started_at": now,
            "last_progress_at": now,
            "progress_mark": _healthy(instances, version),
            "rolled_back_from": None,
            "rollback_reason": "",
            "blocked": False,
        }
    )


def _complete(state: RolloutState) -> RolloutState:
    if state.phase is RolloutPhase.COMPLETE:
        return state
    revision = state.find(version=state.target_version)
    if revision is not None and revision.outcome is not RevisionOutcome.COMPLETE:
        state = state.with_outcome(revision.version, RevisionOutcome.COMPLETE)
    return state.model_copy(update={"phase": RolloutPhase.COMPLETE, "blocked": False})
