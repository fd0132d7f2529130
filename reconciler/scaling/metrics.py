"""Where the metric rule reads load: a small Protocol, implemented over Docker stats
or the local master's simulated usage (adapters), or by a fixed table in tests."""

from __future__ import annotations

from typing import Protocol

from crds.scalingpolicy import MetricKind

__all__ = ["MetricSource", "StaticMetrics"]


class MetricSource(Protocol):
    async def utilisation(self, domain: str, app: str, metric: MetricKind) -> float | None:
        """Mean utilisation (0..1+) of the App's running instances; None when unknown."""
        ...


class StaticMetrics:
    """Utilisation set by hand: ``set(domain, app, metric, value)``."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str, MetricKind], float] = {}

    def set(self, domain: str, app: str, metric: MetricKind, value: float) -> None:
        self._values[(domain, app, metric)] = value

    async def utilisation(self, domain: str, app: str, metric: MetricKind) -> float | None:
        return self._values.get((domain, app, metric))
