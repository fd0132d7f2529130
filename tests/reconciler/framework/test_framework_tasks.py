"""The framework's plain launches and the codec that turns them into Mesos TaskInfos."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from adapters.mesos import (
    AgentID,
    AllocationInfo,
    Attribute,
    FrameworkID,
    Offer,
    OfferID,
    Range,
    Ranges,
    ReservationInfo,
    Resource,
    Scalar,
    Text,
)
from adapters.mesos.tasks import MesosWireCodec, build_task_info, offer_view
from adapters.protocols import OfferAmounts, TaskLaunch
from crds.app import App
from crds.domain import Domain
from reconciler.apps import Instance
from reconciler.framework import LaunchRequest, OfferPool, task_launch
from reconciler.placement import AppKey, Candidate, Placement, PlacementMetrics


def _request(ip: str | None = None) -> LaunchRequest:
    app = App.model_validate(
        {
            "metadata": {"name": "cart", "domain": "shop"},
            "spec": {
                "image": "registry.example.com/shop/cart:2.1",
                "command": ["/bin/cart", "--serve"],
                "args": ["--port=8080"],
                "cpus": 1.5,
                "mem": "512Mi",
                "disk": 100,
                "ports": [{"containerPort": 8080, "name": "http"}],
                "env": {"MODE": "prod"},
                "volumes": [
                    {
                        "hostPath": "/data/logs/cart",
                        "containerPath": "/logs",
                        "perContainerIp": True,
                    }
                ],
                "ipPool": "vlan110",
                "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0}],
                "labels": {"team": "cart"},
            },
        }
    )
    domain = Domain.model_validate(
        {"metadata": {"name": "shop"}, "spec": {"timezone": "Asia/Shanghai"}}
    )
    inst = Instance(
        instance_id="shop.cart.0123abcd.00000001",
        domain="shop",
        app="cart",
        version="0123abcd" * 2,
        ip=ip,
        launched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return LaunchRequest(inst, app, domain)


def _placement(req: LaunchRequest, *, reserved: bool, ports: tuple[int, ...]) -> Placement:
    candidate = Candidate(
        app=AppKey("shop", "cart"),
        instance_id=req.instance.instance_id,
        version="v",
        role="shop",
        cpus=1.5,
        mem=512,
    )
    return Placement(
        candidate=candidate,
        offer_id="o1",
        agent_id="a1",
        hostname="h1",
        role="shop",
        reserved=reserved,
        ports=ports,
        metrics=PlacementMetrics(),
    )


def test_task_info_on_bridge_network_maps_offer_ports() -> None:
    req = _request()
    info = build_task_info(task_launch(req, _placement(req, reserved=False, ports=(31005,))))
    assert info.task_id.value == "shop.cart.0123abcd.00000001" and info.agent_id.value == "a1"
    scalars = {r.name: r.scalar.value for r in info.resources if r.scalar is not None}
    assert scalars == {"cpus": 1.5, "mem": 512.0, "disk": 100.0}
    assert all(r.allocation_info and r.allocation_info.role == "shop" for r in info.resources)
    assert all(not r.reservations for r in info.resources)
    (ports,) = [r for r in info.resources if r.name == "ports"]
    assert ports.ranges is not None and [(x.begin, x.end) for x in ports.ranges.range] == [
        (31005, 31005)
    ]
    assert info.command is not None and info.command.shell is False
    # the command replaces the image's entrypoint (a value would replace only its CMD)
    assert info.command.value is None
    assert info.command.arguments == ["--serve", "--port=8080"]
    assert info.container is not None and info.container.docker is not None
    params = {p.key: p.value for p in info.container.docker.parameters}
    assert params == {"entrypoint": "/bin/cart"}
    env = {v.name: v.value for v in info.command.environment.variables}  # type: ignore[union-attr]
    assert env == {"TZ": "Asia/Shanghai", "MODE": "prod"}
    assert info.container is not None and info.container.docker is not None
    assert str(info.container.type) == "DOCKER"
    assert info.container.docker.image == "registry.example.com/shop/cart:2.1"
    assert str(info.container.docker.network) == "BRIDGE"
    assert [(m.host_port, m.container_port) for m in info.container.docker.port_mappings] == [
        (31005, 8080)
    ]
    assert info.container.volumes[0].host_path == "/data/logs/cart"
    assert info.health_check is not None and info.health_check.http is not None
    assert info.health_check.http.port == 8080 and info.health_check.http.path == "/health"
    labels = {x.key: x.value for x in info.labels.labels}  # type: ignore[union-attr]
    assert labels == {
        "team": "cart",
        "dcos/app": "cart",
        "dcos/domain": "shop",
        "dcos/version": "0123abcd" * 2,
    }


def test_task_info_with_a_pinned_ip_joins_the_pools_docker_network() -> None:
    req = _request(ip="10.20.1.17")
    launch = task_launch(
        req, _placement(req, reserved=True, ports=()), network="dcos-vlan110", pin_ip=True
    )
    info = build_task_info(launch)
    assert info.container is not None and info.container.docker is not None
    assert str(info.container.docker.network) == "USER"
    params = {p.key: p.value for p in info.container.docker.parameters}
    assert params == {"entrypoint": "/bin/cart", "ip": "10.20.1.17"}  # docker run --ip
    (net,) = info.container.network_infos
    assert net.name == "dcos-vlan110"
    (address,) = net.ip_addresses
    assert address.ip_address == "10.20.1.17" and address.protocol is None
    assert info.container.volumes[0].host_path == "/data/logs/cart/10.20.1.17"


def test_task_info_with_an_own_ip_requests_it_statically_and_reserved_resources() -> None:
    req = _request(ip="10.20.1.17")
    info = build_task_info(task_launch(req, _placement(req, reserved=True, ports=())))
    assert info.container is not None and info.container.docker is not None
    assert str(info.container.docker.network) == "BRIDGE"
    params = {p.key: p.value for p in info.container.docker.parameters}
    assert params == {"entrypoint": "/bin/cart"}
    (net,) = info.container.network_infos
    assert net.name == "vlan110" and net.ip_addresses[0].ip_address == "10.20.1.17"
    assert info.container.volumes[0].host_path == "/data/logs/cart/10.20.1.17"
    assert not [r for r in info.resources if r.name == "ports"]
    assert all(r.reservations[0].role == "shop" for r in info.resources)


def test_offer_view_splits_reserved_and_unreserved_parts_for_placement() -> None:
    alloc = AllocationInfo(role="shop")
    offer = Offer(
        id=OfferID(value="o1"),
        framework_id=FrameworkID(value="f"),
        agent_id=AgentID(value="a1"),
        hostname="h1",
        allocation_info=alloc,
        attributes=[
            Attribute(name="rack", type="TEXT", text=Text(value="r2")),
            Attribute(name="cores", type="SCALAR", scalar=Scalar(value=4.0)),
        ],
        resources=[
            Resource(
                name="cpus",
                type="SCALAR",
                scalar=Scalar(value=2),
                allocation_info=alloc,
                reservations=[ReservationInfo(type="STATIC", role="shop")],
            ),
            Resource(name="cpus", type="SCALAR", scalar=Scalar(value=6), allocation_info=alloc),
            Resource(name="mem", type="SCALAR", scalar=Scalar(value=1024), allocation_info=alloc),
            Resource(
                name="ports",
                type="RANGES",
                allocation_info=alloc,
                ranges=Ranges(range=[Range(begin=31000, end=31009)]),
            ),
        ],
    )
    view = offer_view(offer)
    assert view.role == "shop" and view.attributes == {"rack": "r2", "cores": 4.0}
    assert view.reserved == OfferAmounts(cpus=2.0)
    assert view.unreserved == OfferAmounts(cpus=6.0, mem=1024.0, ports=((31000, 31009),))
    pool = OfferPool()
    pool.add([view], now=0.0)
    reserved, shared = pool.agent_offers()
    assert (reserved.reserved, reserved.cpus) == (True, 2.0)
    assert (shared.reserved, shared.cpus, shared.port_count) == (False, 6.0, 10)
    assert shared.attributes["rack"] == "r2" and shared.attributes["cores"] == "4"
    assert pool.agent_offers() == (reserved, shared)  # converted once, on arrival
    assert "o1" in pool and pool.excess(keep=1) == []
    assert pool.expired(now=1.0, hold=5.0) == [] and pool.expired(now=5.0, hold=5.0) == ["o1"]
    pool.add([view], now=6.0)
    pool.add([replace(view, offer_id="o2")], now=7.0)
    assert pool.excess(keep=1) == ["o1"] and len(pool) == 1 and "o2" in pool


def test_framework_info_is_multi_role_with_checkpointing() -> None:
    info = MesosWireCodec().framework_info(
        name="simple-dcos",
        user="simple-dcos",
        roles=["*", "shop"],
        failover_timeout=604800.0,
        checkpoint=True,
        framework_id="fw-1",
    )
    assert info.id is not None and info.id.value == "fw-1"
    assert info.roles == ["*", "shop"] and info.checkpoint is True
    assert info.failover_timeout == 604800.0
    assert {str(c.type) for c in info.capabilities} >= {"MULTI_ROLE", "PARTITION_AWARE"}


def test_a_dynamic_reservation_is_offered_and_launched_on_as_it_is() -> None:
    """A task takes reserved resources with the reservation they were offered with (Mesos
    matches it exactly); an agent with static and dynamic reservations for the role gives
    placement the larger kind only."""
    alloc = AllocationInfo(role="shop")
    dynamic = [ReservationInfo(type="DYNAMIC", role="shop", principal="dcos-controller")]
    static = [ReservationInfo(type="STATIC", role="shop")]

    def resource(name: str, value: float, reservations: list[ReservationInfo]) -> Resource:
        return Resource(
            name=name,
            type="SCALAR",
            scalar=Scalar(value=value),
            allocation_info=alloc,
            reservations=reservations,
        )

    offer = Offer(
        id=OfferID(value="o1"),
        framework_id=FrameworkID(value="f"),
        agent_id=AgentID(value="a1"),
        hostname="h1",
        allocation_info=alloc,
        resources=[
            resource("cpus", 1, static),
            resource("cpus", 3, dynamic),
            resource("mem", 2048, dynamic),
            Resource(
                name="ports",
                type="RANGES",
                allocation_info=alloc,
                ranges=Ranges(range=[Range(begin=31000, end=31009)]),
                reservations=dynamic,
            ),
        ],
    )
    view = offer_view(offer)
    assert view.reservation == ("DYNAMIC", "dcos-controller")
    assert view.reserved == OfferAmounts(cpus=3.0, mem=2048.0, ports=((31000, 31009),))
    launch = TaskLaunch(
        task_id="t1",
        name="web.shop",
        agent_id="a1",
        role="shop",
        reserved=True,
        cpus=1,
        mem=128,
        disk=0,
        image="web:1",
        host_ports=(31000,),
        reservation=view.reservation,
    )
    info = build_task_info(launch)
    assert all(r.reservations == dynamic for r in info.resources)
