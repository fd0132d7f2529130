"""The controller runtime: a small asyncio take on client-go and controller-runtime.

It knows nothing about Mesos; controllers in ``reconciler/controllers/``
build on it. From the bottom up:

- :mod:`.clock` — injected time (:class:`ManualClock` in tests);
- :mod:`.ratelimit` — retry delays: per-key exponential backoff, a token bucket;
- :mod:`.queue` — :class:`WorkQueue`: coalescing, never one key twice at once;
- :mod:`.controller` — the reconcile contract and the worker loop;
- :mod:`.informer` — list + watch into a cache, handlers that queue keys;
- :mod:`.leader` — run the workers only while this process leads;
- :mod:`.events` — :class:`Recorder`, events about objects;
- :mod:`.metrics` — Prometheus series, ``/metrics`` and ``/healthz``;
- :mod:`.collector` — garbage collection that does not stall the loop for long;
- :mod:`.manager` — :class:`Manager`, which wires all of it;
- :mod:`.settings` — the grouped settings passed to each part.

``docs/controller.md`` describes how a controller is written and run.
"""

from reconciler.runtime.clock import Clock, ManualClock, MonotonicClock
from reconciler.runtime.controller import (
    Controller,
    FuncReconciler,
    Reconciler,
    Request,
    Result,
    TerminalError,
)
from reconciler.runtime.events import Recorder
from reconciler.runtime.informer import (
    EventHandler,
    Informer,
    UpdatePredicate,
    enqueue_all,
    enqueue_owner,
    enqueue_self,
    spec_or_metadata_changed,
)
from reconciler.runtime.leader import AlwaysLeader, run_elected
from reconciler.runtime.manager import ControllerBuilder, Manager
from reconciler.runtime.metrics import MetricsServer, RuntimeMetrics
from reconciler.runtime.queue import ShutDown, WorkQueue
from reconciler.runtime.ratelimit import (
    Bucket,
    ItemExponential,
    MaxOf,
    RateLimiter,
    default_rate_limiter,
)
from reconciler.runtime.settings import (
    CollectorSettings,
    ControllerSettings,
    InformerSettings,
    ManagerSettings,
    QueueSettings,
)

__all__ = [
    "AlwaysLeader",
    "Bucket",
    "Clock",
    "CollectorSettings",
    "Controller",
    "ControllerBuilder",
    "ControllerSettings",
    "EventHandler",
    "FuncReconciler",
    "Informer",
    "InformerSettings",
    "ItemExponential",
    "Manager",
    "ManagerSettings",
    "ManualClock",
    "MaxOf",
    "MetricsServer",
    "MonotonicClock",
    "QueueSettings",
    "RateLimiter",
    "Reconciler",
    "Recorder",
    "Request",
    "Result",
    "RuntimeMetrics",
    "ShutDown",
    "TerminalError",
    "UpdatePredicate",
    "WorkQueue",
    "default_rate_limiter",
    "enqueue_all",
    "enqueue_owner",
    "enqueue_self",
    "run_elected",
    "spec_or_metadata_changed",
]
