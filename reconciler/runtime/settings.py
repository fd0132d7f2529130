"""Settings of the controller runtime, grouped per part and passed in explicitly.

Nothing in :mod:`reconciler.runtime` reads the environment or module
globals: the composition root (``cli/controller.py``) builds these from its
flags and hands them to :class:`~reconciler.runtime.manager.Manager`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = [
    "CollectorSettings",
    "ControllerSettings",
    "InformerSettings",
    "ManagerSettings",
    "QueueSettings",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueSettings:
    base_delay: float = 0.005
    """Seconds a key waits after its first failure; doubles with each further failure."""
    max_delay: float = 300.0
    """The longest a failing key waits (5 minutes)."""
    qps: float = 10.0
    """Retries per second across all keys of one controller (a token bucket)."""
    burst: int = 100
    """Retries the bucket lets through at once."""


@dataclass(frozen=True)
class ControllerSettings:
    workers: int = 2
    """Reconciles of one controller that may run at once (never two of one key)."""
    reconcile_timeout: float | None = None
    """Seconds one reconcile may take before it is cancelled and retried; None: no limit."""
    queue: QueueSettings = field(default_factory=QueueSettings)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("ControllerSettings.workers must be at least 1")


@dataclass(frozen=True)
class InformerSettings:
    resync_period: float = 600.0
    """Seconds between re-queueing every cached object (0: never)."""
    retry_initial: float = 0.1
    """Seconds before the first retry of a failed list or watch."""
    retry_max: float = 10.0
    """The longest wait between retries."""
    list_timeout: float = 60.0
    """Seconds a list may take before it counts as failed."""


@dataclass(frozen=True)
class CollectorSettings:
    freeze: bool = True
    """Freeze what survives each full garbage collection (:mod:`reconciler.runtime.collector`)."""
    full_interval: float = 600.0
    """Seconds between collections of everything, frozen objects included (0: never)."""


@dataclass(frozen=True)
class ManagerSettings:
    metrics_addr: str | None = "127.0.0.1:9100"
    """``host:port`` for ``/metrics`` and ``/healthz``; None: not served."""
    shutdown_timeout: float = 10.0
    """Seconds a graceful stop waits for reconciles in flight before cancelling them."""
    informer: InformerSettings = field(default_factory=InformerSettings)
    collector: CollectorSettings = field(default_factory=CollectorSettings)
