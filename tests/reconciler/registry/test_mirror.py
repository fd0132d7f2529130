"""The pure parts of the RegistryMirror controller: replica App, endpoints, sync timing,
which mirror serves an image."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crds.app import App, ConstraintOperator
from crds.domain import Domain
from crds.host import Host
from crds.registrymirror import RegistryMirror
from reconciler.apps.instances import Instance, InstanceState
from reconciler.placement.snapshot import Candidate
from reconciler.registry.mirror import (
    SYNC_REQUESTED,
    mirror_for_image,
    next_sync_in,
    replica_spec,
    replicas_of,
    requested_at,
    sync_due,
)

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)


def mirror(
    *, last_sync: datetime | None = None, annotations: dict[str, str] | None = None, **spec: Any
) -> RegistryMirror:
    body = {"replicas": 3, "repositories": ["shop/*"], "syncIntervalSeconds": 60, **spec}
    return RegistryMirror.model_validate(
        {
            "metadata": {"name": "hub", "annotations": annotations or {}},
            "spec": body,
            "status": {"lastSyncTime": last_sync.isoformat() if last_sync else None},
        }
    )


def host(name: str, **labels: str) -> Host:
    return Host.model_validate(
        {
            "metadata": {"name": name, "labels": labels},
            "spec": {"address": "10.0.0.1", "resources": {"cpus": 4, "mem": 4096}},
        }
    )


def instance(n: int, host: str | None, *, ports: tuple[int, ...] = (31000,), **kw: Any) -> Instance:
    return Instance(
        instance_id=f"dcos-system.hub.abcd1234.{n:08x}",
        domain="dcos-system",
        app="hub",
        version="abcd1234",
        state=kw.pop("state", InstanceState.RUNNING),
        hostname=host,
        host_ports=ports,
        host_ip=kw.pop("host_ip", None),
        launched_at=T0,
        started_at=kw.pop("started_at", T0 + timedelta(seconds=n)),
    )


def test_replica_app_runs_docker_registry_without_an_image() -> None:
    spec = replica_spec(mirror(cpus=0.25, mem=64, port=5000))
    assert spec.image is None
    assert spec.command is not None and spec.command[:2] == ["/bin/sh", "-c"]
    assert 'exec docker-registry serve "$PWD/registry.yml"' in spec.command[2]
    assert "addr: ${LIBPROCESS_IP:-0.0.0.0}:$PORT0" in spec.command[2]
    assert "rootdirectory: $root" in spec.command[2]  # in the sandbox
    assert (spec.instances, spec.cpus, spec.mem) == (3, 0.25, 64)
    assert [p.container_port for p in spec.ports] == [5000]
    assert [(c.field, c.operator) for c in spec.constraints] == [
        ("hostname", ConstraintOperator.UNIQUE)
    ]


def test_host_selector_becomes_a_hostname_constraint() -> None:
    selected = mirror(hostSelector={"matchLabels": {"registry": "true"}})
    hosts = [host("a1", registry="true"), host("b2"), host("c-3", registry="true")]
    spec = replica_spec(selected, hosts)
    like = [c for c in spec.constraints if c.operator is ConstraintOperator.LIKE]
    assert [c.value for c in like] == [r"^(a1|c\-3)$"]


def test_replicas_are_running_instances_oldest_first_with_host_addresses() -> None:
    found = replicas_of(
        [
            instance(2, "h2", ports=(31002,)),
            instance(1, "h1", ports=(31001,)),
            instance(0, "h0", ports=(31000,), host_ip="127.0.0.20"),
            instance(3, "h3", state=InstanceState.STAGING),
            instance(4, None),
            instance(5, "h5", ports=()),
        ],
        {"h1": "127.0.0.21"},
    )
    assert [(r.host, r.address) for r in found] == [
        ("h0", "127.0.0.20:31000"),  # the agent's address from the offer
        ("h1", "127.0.0.21:31001"),  # the Host's address
        ("h2", "h2:31002"),  # the hostname
    ]
    assert found[1].url == "http://127.0.0.21:31001"


def test_sync_due_first_requested_new_replica_and_schedule() -> None:
    both = {"ready": ["a", "b"], "synced": ["a", "b"]}
    assert sync_due(mirror(), ready=["a"], synced=[], now=T0) is None  # nothing to copy between
    assert sync_due(mirror(), ready=["a", "b"], synced=[], now=T0) == "first sync"
    synced = mirror(last_sync=T0)
    assert sync_due(synced, **both, now=T0 + timedelta(seconds=59)) is None
    assert sync_due(synced, **both, now=T0 + timedelta(seconds=60)) == "schedule"
    assert sync_due(synced, ready=["a", "c"], synced=["a", "b"], now=T0) == "replica ready"
    asked = mirror(
        last_sync=T0, annotations={SYNC_REQUESTED: (T0 + timedelta(seconds=1)).isoformat()}
    )
    assert sync_due(asked, **both, now=T0 + timedelta(seconds=2)) == "requested"
    old_ask = mirror(
        last_sync=T0, annotations={SYNC_REQUESTED: (T0 - timedelta(seconds=1)).isoformat()}
    )
    assert sync_due(old_ask, **both, now=T0 + timedelta(seconds=2)) is None
    assert next_sync_in(synced, T0 + timedelta(seconds=20)) == 40.0


def test_a_malformed_or_naive_request_is_ignored() -> None:
    assert requested_at(mirror(annotations={SYNC_REQUESTED: "soon"})) is None
    assert requested_at(mirror(annotations={SYNC_REQUESTED: "2026-11-11T10:00:00"})) is None
    assert requested_at(mirror(annotations={SYNC_REQUESTED: T0.isoformat()})) == T0


def test_mirror_for_image_matches_serves_exactly() -> None:
    served = mirror(serves="registry.sh1.example.com:5000")
    other = mirror(serves="registry.bj1.example.com")
    mirrors = [other, served]
    assert mirror_for_image("registry.sh1.example.com:5000/shop/web:1.0", mirrors) is served
    assert (
        mirror_for_image("registry.bj1.example.com/shop/web@sha256:" + "a" * 64, mirrors) is other
    )
    assert mirror_for_image("registry.sh1.example.com/shop/web:1.0", mirrors) is None  # no port
    assert mirror_for_image("busybox:1", mirrors) is None
    assert mirror_for_image(None, mirrors) is None


def test_a_replica_takes_a_host_port_and_no_pool_address() -> None:
    app = App.model_validate(
        {
            "metadata": {"name": "hub", "domain": "dcos-system"},
            "spec": replica_spec(mirror()).model_dump(by_alias=True, exclude_none=True),
        }
    )
    domain = Domain.model_validate({"metadata": {"name": "dcos-system"}, "spec": {}})
    candidate = Candidate.for_app(app, domain, instance_id="i", version="v", host_ports=1)
    assert candidate.needs_ip is False  # a command task shares its host's network
    assert candidate.ports == 1
