"""The history checker on hand-made histories: each property holds, and each breach is named.

No etcd, no master: a :class:`History` is built from the values the
controllers would write (App specs and statuses, instance records, IP
records, the master's tasks, acknowledged writes) and :func:`check` must
find exactly what is wrong with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.etcd.codec import encode_spec, spec_dict
from crds.app import App
from crds.registry import parse_object
from e2e.faults.history import Ack, Checks, EtcdEvent, Fault, History, TaskOp, check
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.version import spec_version

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _app(instances: int = 2, tag: str = "1") -> App:
    app = parse_object(
        {
            "apiVersion": "dcos/v1",
            "kind": "App",
            "metadata": {"name": "web", "domain": "shop", "generation": 1},
            "spec": {
                "image": f"registry.example.com/web:{tag}",
                "instances": instances,
                "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
            },
        }
    )
    assert isinstance(app, App)
    return app


def _status(app: App, *, healthy: int | None = None) -> bytes:
    n = app.spec.instances
    status = {
        "observedGeneration": 1,
        "version": spec_version(app.spec),
        "healthyInstances": n if healthy is None else healthy,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumHealthy"}],
    }
    return json.dumps(status).encode()


def _record(
    app: App, suffix: str, state: InstanceState = InstanceState.RUNNING, ip: str | None = None
) -> bytes:
    version = spec_version(app.spec)
    inst = Instance(
        instance_id=f"shop.web.{version[:8]}.{suffix}",
        domain="shop",
        app="web",
        version=version,
        state=state,
        ip=ip,
        launched_at=NOW,
    )
    return inst.to_json().encode()


def _id(app: App, suffix: str) -> str:
    return f"shop.web.{spec_version(app.spec)[:8]}.{suffix}"


def _ip(owner: str, *, released: bool = False) -> bytes:
    return json.dumps(
        {"host": "h01", "owner": owner, "releasedAt": 1.0 if released else None}
    ).encode()


@dataclass
class Builder:
    """Writes revision by revision, as etcd would number them."""

    history: History = field(default_factory=lambda: History(start_revision=10))
    revision: int = 10

    def put(self, *writes: tuple[str, bytes | None]) -> int:
        self.revision += 1
        for key, value in writes:
            self.history.events.append(EtcdEvent(self.revision, key, value, self.revision))
        return self.revision

    def task(self, task_id: str, state: str = "TASK_RUNNING") -> None:
        self.history.tasks.append(TaskOp(0.0, task_id, state, "agent-1"))


SPEC = "spec/App/shop/web"
STATUS = "status/App/shop/web"


def _converged(app: App | None = None) -> Builder:
    """An App of two instances, acknowledged, launched, recorded and Available."""
    app = app or _app()
    b = Builder()
    value = encode_spec(spec_dict(app))
    revision = b.put((SPEC, value))
    b.history.acks.append(Ack(revision, SPEC, value))
    for n, suffix in enumerate(("a", "b")):
        key = f"instances/shop/web/{_id(app, suffix)}"
        ip = f"10.0.0.{n + 2}"
        b.put(
            (key, _record(app, suffix, InstanceState.STAGING, ip)),
            (f"ipam/ips/p/{ip}", _ip(_id(app, suffix))),
        )
        b.task(_id(app, suffix))
        b.put((key, _record(app, suffix, ip=ip)))
    b.put((STATUS, _status(app)))
    return b


def test_a_clean_history_passes_with_its_figures() -> None:
    b = _converged()
    b.history.faults.append(Fault(1.0, 11, "SIGKILL ctl-a"))
    b.history.converged_at = 3.5
    report = check(b.history)
    assert report.violations == []
    assert report.apps == 1
    assert report.revisions == 6
    assert report.tasks == 2
    assert report.converge_seconds == 2.5
    assert "1 faults" in report.summary()


def test_more_active_instances_than_the_bounds_allow() -> None:
    app = _app()
    b = _converged(app)
    # two more at once: 4 active > 2 + floor(2 * 0.5)
    for suffix in ("c", "d"):
        b.put((f"instances/shop/web/{_id(app, suffix)}", _record(app, suffix)))
        b.task(_id(app, suffix))
    report = check(b.history)
    assert any("4 active > 3" in v for v in report.violations), report.violations


def test_too_few_healthy_once_healthy_but_not_before() -> None:
    app = _app()
    b = _converged(app)
    b.put(
        (f"instances/shop/web/{_id(app, 'a')}", _record(app, "a", InstanceState.KILLING)),
        (f"instances/shop/web/{_id(app, 'b')}", _record(app, "b", InstanceState.KILLING)),
    )
    report = check(b.history, Checks(healthy_floor=True))
    assert any("0 healthy < 1" in v for v in report.violations), report.violations
    # the deployment's first revisions had fewer healthy than the floor: never a breach
    assert not any("healthy" in v and "revision 12" in v for v in report.violations)
    assert not any(
        "healthy <" in v for v in check(b.history, Checks(healthy_floor=False)).violations
    )


def test_an_ip_given_to_a_second_holder() -> None:
    app = _app()
    b = _converged(app)
    b.put(("ipam/ips/p/10.0.0.2", _ip("shop.web.x.other")))
    report = check(b.history)
    assert any("IP 10.0.0.2 given to shop.web.x.other" in v for v in report.violations)


def test_two_active_records_with_one_ip_and_a_leak() -> None:
    app = _app()
    b = _converged(app)
    b.put((f"instances/shop/web/{_id(app, 'b')}", _record(app, "b", ip="10.0.0.2")))
    b.put(("ipam/ips/p/10.0.0.9", _ip(_id(app, "gone"))))
    report = check(b.history)
    assert any("IP 10.0.0.2 is on active instances" in v for v in report.violations)
    assert any(f"IP 10.0.0.9 leaked: held by {_id(app, 'gone')}" in v for v in report.violations)


def test_a_released_ip_may_be_given_again() -> None:
    app = _app()
    b = _converged(app)
    key = f"instances/shop/web/{_id(app, 'b')}"
    b.put(
        (key, _record(app, "b", InstanceState.KILLED)),
        ("ipam/ips/p/10.0.0.3", _ip(_id(app, "b"), released=True)),
    )
    b.task(_id(app, "b"), "TASK_KILLED")
    b.put(
        (f"instances/shop/web/{_id(app, 'c')}", _record(app, "c", ip="10.0.0.3")),
        ("ipam/ips/p/10.0.0.3", _ip(_id(app, "c"))),
    )
    b.task(_id(app, "c"))
    assert check(b.history).violations == []


def test_a_task_etcd_never_recorded() -> None:
    b = _converged()
    b.task("shop.web.deadbeef.zz")
    report = check(b.history)
    assert "task shop.web.deadbeef.zz ran with no instance record in etcd" in report.violations
    assert any("runs but etcd has no active record" in v for v in report.violations)


def test_an_acknowledged_spec_lost() -> None:
    b = _converged()
    newer = _app(tag="2")
    b.history.acks.append(Ack(99, SPEC, encode_spec(spec_dict(newer))))
    report = check(b.history)
    assert any(
        "acknowledged write of spec/App/shop/web at revision 99" in v for v in report.violations
    )
    assert any("holds another spec than the one acknowledged at 99" in v for v in report.violations)


def test_an_app_that_did_not_converge() -> None:
    app = _app()
    b = _converged(app)
    b.put((STATUS, _status(app, healthy=1)))
    report = check(b.history)
    assert any("App shop/web status says 1/2 healthy" in v for v in report.violations)


def test_terms_and_takeovers() -> None:
    b = _converged()
    b.put(("leader/controller-manager", b"ctl-a"))
    b.put(("leader/controller-manager", None))
    b.put(("leader/controller-manager", b"ctl-b"))
    assert [name for _, name in b.history.terms("controller-manager")] == ["ctl-a", "ctl-b"]
    assert check(b.history).takeovers == 1


def test_a_scale_down_may_run_above_the_new_ceiling_until_its_kills_end() -> None:
    app = _app()
    b = _converged(app)
    smaller = _app(instances=1)
    value = encode_spec(spec_dict(smaller))
    b.history.acks.append(Ack(b.put((SPEC, value)), SPEC, value))
    # 2 active > 1 + floor(1 * 0.5) until the kill ends: not a breach
    b.put((f"instances/shop/web/{_id(app, 'b')}", _record(app, "b", InstanceState.KILLING)))
    b.put((f"instances/shop/web/{_id(app, 'b')}", None))
    assert [v for v in check(b.history).violations if " active > " in v] == []


def test_a_launch_while_above_the_ceiling_after_a_scale_down() -> None:
    app = _app()
    b = _converged(app)
    b.put((SPEC, encode_spec(spec_dict(_app(instances=1)))))
    b.put((f"instances/shop/web/{_id(app, 'c')}", _record(app, "c")))
    report = check(b.history)
    assert any("3 active > 2 while above its ceiling" in v for v in report.violations), (
        report.violations
    )


def test_an_unreachable_instance_back_beside_its_replacement_is_not_a_launch() -> None:
    app = _app()
    b = _converged(app)
    lost = f"instances/shop/web/{_id(app, 'a')}"
    b.put((lost, _record(app, "a", InstanceState.UNREACHABLE)))
    b.put((f"instances/shop/web/{_id(app, 'c')}", _record(app, "c")))
    b.put((f"instances/shop/web/{_id(app, 'd')}", _record(app, "d")))
    b.put((lost, _record(app, "a")))  # healed: 4 active > 3, the controller's to kill
    b.put((lost, _record(app, "a", InstanceState.KILLING)))
    b.put((lost, None))
    assert [v for v in check(b.history).violations if " active > " in v] == []
    # but starting another one while above the ceiling is
    b.put((f"instances/shop/web/{_id(app, 'e')}", _record(app, "e")))
    b.put((f"instances/shop/web/{_id(app, 'f')}", _record(app, "f")))
    assert any(" active > 3" in v for v in check(b.history).violations)
