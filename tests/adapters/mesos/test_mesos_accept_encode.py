"""The ACCEPT of plain launches, written directly, against the model dump.

For launches drawn across what ``build_task_info`` handles (with and without
command and args, ports, an own IP on a network, volumes with per-IP host
paths, every health-check protocol, reserved or not, labels, env),
``adapters.mesos.encode`` must write the bytes ``dumps(accept_call(...))``
writes for the same call; and the scheduler client must send them.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.mesos import (
    Filters,
    FrameworkID,
    FrameworkInfo,
    OfferID,
    recordio,
)
from adapters.mesos.encode import accept_call_json, launch_operation_json, task_info_json
from adapters.mesos.http import MesosSettings
from adapters.mesos.model_base import dumps, to_json
from adapters.mesos.model_scheduler import accept_call
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec, build_task_info
from adapters.protocols import TaskLaunch
from crds.common import HealthCheck, HealthCheckProtocol, Volume, VolumeMode
from crds.common import Port as AppPort

CODEC = MesosWireCodec()

text = st.text(max_size=8)
names = st.text(min_size=1, max_size=8)
segment = st.text(alphabet="abcxyz-_.0123456789", min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)
paths = st.lists(segment, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
amounts = st.one_of(
    st.just(0),
    st.integers(min_value=0, max_value=4096),
    st.floats(min_value=0, allow_nan=False),
)
ips = st.ip_addresses(v=4).map(str)


@st.composite
def health_checks(draw: st.DrawFn, ports: tuple[AppPort, ...]) -> HealthCheck:
    protocol = draw(st.sampled_from(list(HealthCheckProtocol)))
    interval = draw(st.integers(min_value=2, max_value=600))
    fields: dict[str, Any] = {
        "protocol": protocol,
        "interval_seconds": interval,
        "timeout_seconds": draw(st.integers(min_value=1, max_value=interval - 1)),
        "grace_period_seconds": draw(st.integers(min_value=0, max_value=900)),
        "max_consecutive_failures": draw(st.integers(min_value=0, max_value=10)),
        "delay_seconds": draw(st.integers(min_value=0, max_value=60)),
    }
    if protocol is HealthCheckProtocol.COMMAND:
        fields["command"] = draw(names)
        return HealthCheck(**fields)
    if protocol is not HealthCheckProtocol.TCP:
        fields["path"] = draw(st.none() | paths)
    by_index: bool = draw(st.booleans())
    if ports and by_index:
        fields["port_index"] = draw(st.none() | st.integers(0, len(ports) - 1))
    else:
        fields["port"] = draw(st.integers(min_value=1, max_value=65535))
    return HealthCheck(**fields)


@st.composite
def launches(draw: st.DrawFn) -> TaskLaunch:
    container_ports = tuple(
        AppPort(container_port=p)
        for p in draw(st.lists(st.integers(1, 65535), max_size=3, unique=True))
    )
    host_network = draw(st.booleans())
    own_ip = not host_network and draw(st.booleans())
    host_ports = draw(st.lists(st.integers(1, 65535), max_size=4, unique=True))
    volumes = draw(
        st.lists(
            st.tuples(paths, paths, st.sampled_from(list(VolumeMode)), st.booleans()).map(
                lambda v: Volume(
                    host_path=v[0], container_path=v[1], mode=v[2], per_container_ip=v[3]
                )
            ),
            max_size=3,
        )
    )
    checks = draw(st.lists(health_checks(container_ports), max_size=2))
    command = draw(st.none() | st.lists(text, min_size=1, max_size=3).map(tuple))
    image = draw(names) if command is None else draw(st.none() | names)  # None: a command task
    return TaskLaunch(
        task_id=draw(names),
        name=draw(names),
        agent_id=draw(names),
        role=draw(names),
        reserved=draw(st.booleans()),
        cpus=draw(amounts),
        mem=draw(amounts),
        disk=draw(amounts),
        image=image,
        command=command,
        args=draw(st.none() | st.lists(text, max_size=3).map(tuple)),
        env=draw(st.dictionaries(names, text, max_size=3)),
        host_ports=tuple(host_ports),
        container_ports=container_ports,
        ip=draw(ips) if own_ip else None,
        network=draw(st.none() | names) if own_ip else None,
        pin_ip=draw(st.booleans()) if own_ip else False,
        host_network=host_network,
        volumes=tuple(volumes),
        health_checks=tuple(checks),
        labels=draw(st.dictionaries(names, text, max_size=3)),
        reservation=draw(
            st.sampled_from([("STATIC", None), ("DYNAMIC", "dcos-controller"), ("DYNAMIC", None)])
        ),
    )


filters = st.one_of(
    st.none(),
    st.just(Filters()),
    st.builds(Filters, refuse_seconds=st.floats(min_value=0, allow_nan=False)),
)


def _model_accept(
    fid: str, offers: list[str], batches: list[list[TaskLaunch]], refuse: Filters | None
) -> bytes:
    operations = [op for batch in batches for op in CODEC.launch_operations(batch)]
    ids = [OfferID(value=o) for o in offers]
    return dumps(accept_call(FrameworkID(value=fid), ids, operations, filters=refuse))


@settings(max_examples=150, deadline=None)
@given(
    fid=names,
    offers=st.lists(names, min_size=1, max_size=2),
    batches=st.lists(st.lists(launches(), min_size=1, max_size=3), min_size=1, max_size=2),
    refuse=filters,
)
def test_direct_accept_is_the_model_dump(
    fid: str,
    offers: list[str],
    batches: list[list[TaskLaunch]],
    refuse: Filters | None,
) -> None:
    expected = _model_accept(fid, offers, batches, refuse)
    got = accept_call_json(
        fid,
        offers,
        [launch_operation_json(batch) for batch in batches],
        refuse_seconds=refuse.refuse_seconds if refuse is not None else None,
        filters=refuse is not None,
    )
    assert json.loads(got) == json.loads(expected)
    assert got == expected


@settings(max_examples=50, deadline=None)
@given(launch=launches())
def test_launch_operation_reads_like_the_model(launch: TaskLaunch) -> None:
    op = CODEC.launch_operation([launch])
    [model] = CODEC.launch_operations([launch])
    assert op.model() == model
    assert op.launch.task_infos == [build_task_info(launch)]
    assert op.wire() == to_json(model)
    assert task_info_json(launch) == to_json(build_task_info(launch))


def test_infinite_amounts_are_written_as_the_model_writes_them() -> None:
    launch = TaskLaunch(
        task_id="t",
        name="t",
        agent_id="a",
        role="*",
        reserved=False,
        cpus=math.inf,
        mem=1,
        disk=0,
        image="i",
    )
    operations = [launch_operation_json([launch])]
    got = accept_call_json("fw", ["o"], operations, refuse_seconds=math.inf, filters=True)
    assert got == _model_accept("fw", ["o"], [[launch]], Filters(refuse_seconds=math.inf))
    assert b'"Infinity"' in got


# ---------------------------------------------------------------- the client


class Master:
    """Answers SUBSCRIBE with SUBSCRIBED (then silence) and every call with 202."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        if json.loads(body)["type"] == "SUBSCRIBE":
            event = {
                "type": "SUBSCRIBED",
                "subscribed": {"framework_id": {"value": "fw-1"}, "heartbeat_interval_seconds": 15},
            }
            headers = {"Content-Type": "application/json", "Mesos-Stream-Id": "s-1"}
            return httpx.Response(200, headers=headers, content=_hang(json.dumps(event).encode()))
        self.bodies.append(body)
        return httpx.Response(202)


async def _hang(record: bytes) -> AsyncIterator[bytes]:
    yield recordio.encode(record)
    await asyncio.Event().wait()


async def _sent(*accepts: tuple[list[Any], list[Any], Filters | None]) -> list[bytes]:
    master = Master()
    settings = MesosSettings(masters=("http://m1:5050",))
    async with MesosSchedulerClient(settings, transport=httpx.MockTransport(master)) as client:
        events = client.subscribe(FrameworkInfo(user="root", name="dcos"))
        await anext(events)
        for offer_ids, operations, refuse in accepts:
            await client.accept(offer_ids, operations, filters=refuse)
        await events.aclose()
    return master.bodies


def _launch(task_id: str) -> TaskLaunch:
    return TaskLaunch(
        task_id=task_id,
        name=task_id,
        agent_id="a1",
        role="shop",
        reserved=True,
        cpus=0.5,
        mem=256,
        disk=0,
        image="registry.local:5000/shop/web:1.0",
        command=("/bin/web", "--serve"),
        host_ports=(31000,),
        container_ports=(AppPort(container_port=8080),),
        health_checks=(HealthCheck(protocol=HealthCheckProtocol.TCP),),
        labels={"dcos/app": "web"},
    )


async def test_client_sends_plain_launches_as_the_models_would() -> None:
    batch = [_launch("t1"), _launch("t2")]
    refuse = Filters(refuse_seconds=5)
    direct, via_models, mixed, odd_id = await _sent(
        (["o1"], [CODEC.launch_operation(batch)], refuse),
        (["o1"], CODEC.launch_operations(batch), refuse),
        # A model among the operations, or an id with fields of its own: the models write it.
        (["o1"], [CODEC.launch_operation(batch[:1]), *CODEC.launch_operations(batch[1:])], refuse),
        ([OfferID.model_validate({"value": "o1", "x": 1})], [CODEC.launch_operation(batch)], None),
    )
    assert direct == via_models
    assert json.loads(mixed)["accept"]["operations"] == [
        to_json(op)
        for op in CODEC.launch_operations(batch[:1]) + CODEC.launch_operations(batch[1:])
    ]
    assert json.loads(odd_id)["accept"]["offer_ids"] == [{"value": "o1", "x": 1}]
    assert "filters" not in json.loads(odd_id)["accept"]


def test_a_host_network_container_maps_no_ports_and_asks_no_address() -> None:
    launch = TaskLaunch(
        task_id="dcos-system.proxy-h1.1.a",
        name="proxy-h1.dcos-system",
        agent_id="S0",
        role="dcos-system",
        reserved=True,
        cpus=0.5,
        mem=128.0,
        disk=0.0,
        image="platform/service-proxy:1.9.3",
        host_ports=(31990,),
        container_ports=(AppPort(container_port=9000),),
        host_network=True,
    )
    container = build_task_info(launch).container
    docker = container.docker if container is not None else None
    assert docker is not None and docker.network is not None
    assert docker.network.value == "HOST"
    assert docker.port_mappings == []
    assert task_info_json(launch)["container"]["docker"]["network"] == "HOST"
