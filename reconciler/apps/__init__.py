"""The App controller's decision core: pure functions, no I/O, time passed in.

The App controller (with the Mesos framework) keeps an App's instances
running and rolls its upgrades; everything it decides comes from here:

* :mod:`~reconciler.apps.instances`: the instance record stored per
  container, its lifecycle, and the mapping from Mesos task states;
* :mod:`~reconciler.apps.version`: the spec version hash (what makes a
  rollout, what is only a scale), the persisted rollout state and its
  revision history, and ``undo``;
* :mod:`~reconciler.apps.backoff`: consecutive failures and the launch delay;
* :mod:`~reconciler.apps.plan`: ``plan()``, the buckets to launch, kill and
  expunge under Marathon's capacity bounds, the progress deadline, and the
  moves off Draining and Decommissioned hosts;
* :mod:`~reconciler.apps.status`: the App's status counts and conditions.

The controller reads the App, its instance records and its rollout state,
calls :func:`plan`, persists ``plan.rollout``, applies the buckets, then
writes :func:`compute_status`. ``docs/rollouts.md`` tells the story.
"""

from reconciler.apps.backoff import BackoffState, launch_not_before, observe_failures
from reconciler.apps.instances import (
    Census,
    Instance,
    InstanceId,
    InstanceState,
    from_task_state,
    kill_order,
    leaving_hosts,
    new_instance_id,
    parse_instance_id,
)
from reconciler.apps.plan import (
    Accounting,
    Bounds,
    KillIntent,
    KillReason,
    LaunchIntent,
    LaunchReason,
    Plan,
    RolloutSettings,
    Wait,
    WaitReason,
    capacity_bounds,
    plan,
)
from reconciler.apps.status import AppStatusReport, compute_status
from reconciler.apps.version import (
    Revision,
    RevisionOutcome,
    RolloutPhase,
    RolloutState,
    UnknownRevision,
    spec_version,
    undo,
    with_operational_fields,
)

__all__ = [
    "Accounting",
    "AppStatusReport",
    "BackoffState",
    "Bounds",
    "Census",
    "Instance",
    "InstanceId",
    "InstanceState",
    "KillIntent",
    "KillReason",
    "LaunchIntent",
    "LaunchReason",
    "Plan",
    "Revision",
    "RevisionOutcome",
    "RolloutPhase",
    "RolloutSettings",
    "RolloutState",
    "UnknownRevision",
    "Wait",
    "WaitReason",
    "capacity_bounds",
    "compute_status",
    "from_task_state",
    "kill_order",
    "launch_not_before",
    "leaving_hosts",
    "new_instance_id",
    "observe_failures",
    "parse_instance_id",
    "plan",
    "spec_version",
    "undo",
    "with_operational_fields",
]
