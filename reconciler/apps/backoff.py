"""Launch backoff: how long to wait before relaunching a version that keeps failing.

Marathon's rule, on the App's ``backoff`` (:class:`crds.app.Backoff`): after
the n-th consecutive failure of the *current* version, the next launch waits
``backoffSeconds * backoffFactor ** (n - 1)`` seconds from that failure,
never more than ``maxLaunchDelaySeconds``.

:class:`BackoffState` is the count, kept in the rollout state so it survives
the expunged instance records. It is updated by :func:`observe_failures`,
level-based and idempotent:

- every terminal record is counted once: the ids already counted are kept
  (only while their records still exist, so the set stays small), which
  makes it safe to run again on the same records after a crash;
- only failures (:data:`~reconciler.apps.instances.FAILURE_STATES`) of the
  version being rolled out count; kills, lost agents and old versions do not;
- a new version starts from zero;
- the count resets once an instance of the version that started *after* the
  last failure has stayed healthy for ``reset_after`` (one minute by default).
  A long-running survivor does not reset it, so one instance crash-looping on
  a bad host still backs off while its siblings run.

The planner (:mod:`reconciler.apps.plan`) asks :func:`launch_not_before`
before it launches anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from crds.app import Backoff
from crds.meta import DcosModel
from reconciler.apps.instances import Instance

__all__ = ["DEFAULT_RESET_AFTER", "BackoffState", "launch_not_before", "observe_failures"]

DEFAULT_RESET_AFTER = timedelta(minutes=1)
"""How long a fresh instance must stay healthy before the failure count resets."""


class BackoffState(DcosModel):
    """Consecutive failures of one version and what the last one said."""

    version: str | None = None
    """The version the count is about."""
    failures: int = 0
    """Consecutive failures of that version since the last reset."""
    last_failure_at: datetime | None = None
    """When the last counted failure happened."""
    message: str = ""
    """What the last failure said, for the Degraded condition."""
    counted: tuple[str, ...] = ()
    """Terminal instance records already counted; every id here is still stored."""


def observe_failures(
    state: BackoffState,
    *,
    version: str,
    instances: Sequence[Instance],
    now: datetime,
    reset_after: timedelta = DEFAULT_RESET_AFTER,
) -> BackoffState:
    """The backoff state after looking at ``instances`` at ``now``."""
    if state.version != version:
        state = BackoffState(version=version)
    terminal = {i.instance_id for i in instances if i.is_terminal}
    counted = set(state.counted) & terminal
    failures, last_at, message = state.failures, state.last_failure_at, state.message
    if (
        failures
        and last_at is not None
        and _stayed_healthy(instances, version, last_at, now, reset_after)
    ):
        failures = 0
    fresh = sorted(
        (i for i in instances if i.is_terminal and i.instance_id not in counted),
        key=lambda i: (i.last_update_at or i.launched_at, i.instance_id),
    )
    for inst in fresh:
        counted.add(inst.instance_id)
        if inst.version != version or not inst.is_failure:
            continue
        failures += 1
        at = inst.last_update_at or now
        last_at = at if last_at is None else max(last_at, at)
        message = inst.message or f"instance {inst.instance_id} {inst.state.value.lower()}"
    return BackoffState(
        version=version,
        failures=failures,
        last_failure_at=last_at,
        message=message,
        counted=tuple(sorted(counted)),
    )


def _stayed_healthy(
    instances: Sequence[Instance],
    version: str,
    last_failure: datetime,
    now: datetime,
    reset_after: timedelta,
) -> bool:
    return any(
        i.version == version
        and i.is_healthy
        and i.started_at is not None
        and i.started_at >= last_failure
        and now - i.started_at >= reset_after
        for i in instances
    )


def launch_not_before(state: BackoffState, backoff: Backoff) -> datetime | None:
    """The earliest time the next instance may be launched; None when it may be now."""
    if state.failures <= 0 or state.last_failure_at is None:
        return None
    return state.last_failure_at + timedelta(seconds=backoff.delay(state.failures))
