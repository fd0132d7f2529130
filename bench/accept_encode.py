"""Building and serialising one ACCEPT: the wire models against the direct encoder.

The framework sends one ACCEPT per offer it uses, one LAUNCH of the tasks
placed there. Figures: microseconds per ACCEPT of one task (command, args,
env, a port, an own IP, a per-IP volume, an HTTP health check, labels) and of
ten such tasks, built and dumped through the models (``launch_operations``,
``accept_call``, ``dumps``) and written directly (``launch_operation`` and
the scheduler client's ACCEPT encoder). No master, no network.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.mesos import Filters, FrameworkID, OfferID
from adapters.mesos.model_base import dumps
from adapters.mesos.model_scheduler import accept_call
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec
from adapters.protocols import TaskLaunch
from bench.common import Figure
from crds.common import HealthCheck, HealthCheckProtocol, Volume
from crds.common import Port as AppPort

CODEC = MesosWireCodec()
FID = FrameworkID(value="5a1c7e3b-0d2f-4e8a-9b61-3f2d7c9e1a04-0000")
OFFER = "5a1c7e3b-0d2f-4e8a-9b61-3f2d7c9e1a04-O1234"
FILTERS = Filters(refuse_seconds=5.0)


def _launch(n: int) -> TaskLaunch:
    return TaskLaunch(
        task_id=f"shop.cart.0123abcd.{n:08x}",
        name="cart",
        agent_id="5a1c7e3b-0d2f-4e8a-9b61-3f2d7c9e1a04-S17",
        role="shop",
        reserved=True,
        cpus=0.5,
        mem=512,
        disk=100,
        image="registry.example.com/shop/cart:2.1",
        command=("/bin/cart", "--serve"),
        args=("--port=8080",),
        env={"MODE": "prod", "TZ": "Asia/Shanghai"},
        host_ports=(31005,),
        container_ports=(AppPort(container_port=8080, name="http"),),
        ip=f"10.20.1.{n % 250 + 2}",
        network="vlan110",
        volumes=(
            Volume(host_path="/data/logs/cart", container_path="/logs", per_container_ip=True),
        ),
        health_checks=(HealthCheck(protocol=HealthCheckProtocol.HTTP, path="/health"),),
        labels={"team": "cart", "dcos/app": "cart", "dcos/domain": "shop", "dcos/version": "v1"},
    )


def _models(launches: list[TaskLaunch]) -> bytes:
    operations = CODEC.launch_operations(launches)
    return dumps(accept_call(FID, [OfferID(value=OFFER)], operations, filters=FILTERS))


def _direct(launches: list[TaskLaunch]) -> bytes:
    operation = CODEC.launch_operation(launches)
    body = MesosSchedulerClient._accept_json(FID, [OFFER], [operation], FILTERS)
    assert body is not None
    return body


def _us_per_call(encode: Callable[[list[TaskLaunch]], bytes], launches: list[TaskLaunch]) -> float:
    """Best of five rounds, in microseconds per call."""
    rounds = max(50, 2000 // len(launches))
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            encode(launches)
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def run() -> list[Figure]:
    figures = []
    for count in (1, 10):
        launches = [_launch(n) for n in range(count)]
        assert _direct(launches) == _models(launches)
        tasks = "1 task" if count == 1 else f"{count} tasks"
        figures += [
            Figure(
                f"ACCEPT of {tasks}: models, built + dumped", _us_per_call(_models, launches), "us"
            ),
            Figure(f"ACCEPT of {tasks}: written directly", _us_per_call(_direct, launches), "us"),
        ]
    return figures
