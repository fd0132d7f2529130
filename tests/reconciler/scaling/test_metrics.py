"""A ScalingPolicy's metric sources: per-App averages over containers' usage."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ContainerUsage
from crds.app import App
from crds.errors import MesosUnavailable
from crds.scalingpolicy import MetricKind
from reconciler.scaling.metrics import FirstOf, StaticMetrics, UsageMetrics, app_utilisation

MIB = 1024 * 1024


class Reader:
    def __init__(self, usage: list[ContainerUsage], *, fail: bool = False) -> None:
        self.items = usage
        self.fail = fail
        self.prefixes: list[str] = []

    async def usage(self, task_prefix: str) -> Sequence[ContainerUsage]:
        self.prefixes.append(task_prefix)
        if self.fail:
            raise MesosUnavailable("no leader")
        return [u for u in self.items if u.task_id.startswith(task_prefix)]


def test_cpu_is_the_mean_over_containers_with_a_figure() -> None:
    usage = [
        ContainerUsage("a", cpus_used=0.45, mem_bytes=0, cpus_limit=0.5),
        ContainerUsage("b", cpus_used=0.05, mem_bytes=0, cpus_limit=0.5),
        ContainerUsage("c", cpus_used=None, mem_bytes=0, cpus_limit=0.5),  # one sample yet
    ]
    assert app_utilisation(usage, MetricKind.CPU, cpus=0.5, mem=64) == pytest.approx(0.5)


def test_containers_without_limits_are_measured_against_the_app() -> None:
    usage = [ContainerUsage("a", cpus_used=0.2, mem_bytes=48 * MIB)]  # Docker, no limits
    assert app_utilisation(usage, MetricKind.CPU, cpus=0.25, mem=64) == pytest.approx(0.8)
    assert app_utilisation(usage, MetricKind.MEMORY, cpus=0.25, mem=64) == pytest.approx(0.75)


def test_nothing_known_is_none() -> None:
    assert app_utilisation([], MetricKind.CPU, cpus=1, mem=64) is None
    unknown = [ContainerUsage("a", cpus_used=None, mem_bytes=None)]
    assert app_utilisation(unknown, MetricKind.MEMORY, cpus=1, mem=64) is None


def _app() -> App:
    return App.model_validate(
        {
            "metadata": {"name": "web", "domain": "shop"},
            "spec": {"image": "registry.example.com/web:1", "cpus": 0.5, "mem": 64},
        }
    )


async def test_usage_metrics_keep_to_the_apps_instances(store: EtcdStore) -> None:
    await store.create(_app())
    reader = Reader(
        [
            ContainerUsage("shop.web.1a2b3c4d.00000001", cpus_used=0.45, mem_bytes=32 * MIB),
            ContainerUsage("shop.web.1a2b3c4d.00000002", cpus_used=0.35, mem_bytes=16 * MIB),
            ContainerUsage("shop.webshop.1a2b3c4d.00000003", cpus_used=0.5, mem_bytes=0),
            ContainerUsage("not-an-instance", cpus_used=0.5, mem_bytes=0),
        ]
    )
    source = UsageMetrics(reader, store)
    assert await source.utilisation("shop", "web", MetricKind.CPU) == pytest.approx(0.8)
    assert await source.utilisation("shop", "web", MetricKind.MEMORY) == pytest.approx(0.375)
    assert reader.prefixes == ["shop.web.", "shop.web."]


async def test_a_failing_reader_means_unknown_and_the_next_source_answers(
    store: EtcdStore,
) -> None:
    await store.create(_app())
    fallback = StaticMetrics()
    fallback.set("shop", "web", MetricKind.CPU, 0.3)
    failing = UsageMetrics(Reader([], fail=True), store)
    assert await failing.utilisation("shop", "web", MetricKind.CPU) is None
    assert await FirstOf(failing, fallback).utilisation("shop", "web", MetricKind.CPU) == 0.3
    assert await FirstOf(failing).utilisation("shop", "web", MetricKind.CPU) is None
