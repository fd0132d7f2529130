"""App: resources, constraints, health-check references, defaults and effective_env."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crds.app import App, AppSpec, Backoff, Constraint, effective_env
from crds.domain import Domain

IMAGE = "registry.example.com:5000/checkout/cart:2.3.1"


def _app(spec: dict[str, Any], *, domain: str = "checkout") -> App:
    return App.model_validate(
        {
            "apiVersion": "dcos/v1",
            "kind": "App",
            "metadata": {"name": "cart", "domain": domain},
            "spec": {"image": IMAGE, **spec},
        }
    )


def _domain(name: str = "checkout", timezone: str = "Asia/Shanghai") -> Domain:
    return Domain.model_validate(
        {
            "apiVersion": "dcos/v1",
            "kind": "Domain",
            "metadata": {"name": name},
            "spec": {"timezone": timezone},
        }
    )


def test_defaults_follow_marathon() -> None:
    spec = AppSpec.model_validate({"image": IMAGE})
    assert (spec.instances, spec.cpus, spec.mem, spec.disk) == (1, 1.0, 128, 0)
    assert spec.command is None and spec.args is None
    assert spec.ip_pool is None
    assert (spec.upgrade_strategy.minimum_health_capacity,) == (1.0,)
    assert spec.upgrade_strategy.maximum_over_capacity == 1.0
    assert spec.backoff.backoff_seconds == 1.0
    assert spec.backoff.backoff_factor == 1.15
    assert spec.backoff.max_launch_delay_seconds == 300.0
    assert spec.constraints == [] and spec.health_checks == [] and spec.volumes == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(["hostname", "UNIQUE"], ("hostname", "UNIQUE", None), id="array-unique"),
        pytest.param(["rack", "GROUP_BY", "3"], ("rack", "GROUP_BY", "3"), id="array-group-by"),
        pytest.param(["rack", "GROUP_BY"], ("rack", "GROUP_BY", None), id="group-by-no-value"),
        pytest.param(["dc", "CLUSTER", "sh1"], ("dc", "CLUSTER", "sh1"), id="cluster"),
        pytest.param(["rack", "LIKE", "r[12]"], ("rack", "LIKE", "r[12]"), id="like"),
        pytest.param(["rack", "UNLIKE", "r3"], ("rack", "UNLIKE", "r3"), id="unlike"),
        pytest.param(["hostname", "MAX_PER", "2"], ("hostname", "MAX_PER", "2"), id="max-per"),
        pytest.param(["ssd", "IS", "true"], ("ssd", "IS", "true"), id="is"),
        pytest.param(
            {"field": "hostname", "operator": "MAX_PER", "value": 2},
            ("hostname", "MAX_PER", "2"),
            id="unquoted-number",
        ),
        pytest.param(
            {"field": "rack", "operator": "GROUP_BY", "value": "2"},
            ("rack", "GROUP_BY", "2"),
            id="object-form",
        ),
    ],
)
def test_constraint_forms_normalise_to_objects(raw: Any, expected: tuple[Any, ...]) -> None:
    constraint = Constraint.model_validate(raw)
    assert (constraint.field, constraint.operator, constraint.value) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(["hostname", "UNIQUE", "x"], "UNIQUE takes no value", id="unique-with-value"),
        pytest.param(["dc", "CLUSTER"], "CLUSTER needs a value", id="cluster-without"),
        pytest.param(["rack", "LIKE"], "LIKE needs a value", id="like-without"),
        pytest.param(["rack", "UNLIKE"], "UNLIKE needs a value", id="unlike-without"),
        pytest.param(["ssd", "IS"], "IS needs a value", id="is-without"),
        pytest.param(["hostname", "MAX_PER"], "MAX_PER needs a value", id="max-per-without"),
        pytest.param(["hostname", "MAX_PER", "0"], "positive integer", id="max-per-zero"),
        pytest.param(["hostname", "MAX_PER", "two"], "positive integer", id="max-per-word"),
        pytest.param(["rack", "GROUP_BY", "-1"], "positive integer", id="group-by-negative"),
        pytest.param(["rack", "GROUP_BY", "1.5"], "positive integer", id="group-by-fraction"),
        pytest.param(
            ["rack", "LIKE", "r[12"], "value 'r\\[12' is not a valid regex", id="like-bad-regex"
        ),
        pytest.param(["rack", "UNLIKE", "(r1"], "is not a valid regex", id="unlike-bad-regex"),
        pytest.param(["rack", "NEAR", "r1"], "UNIQUE", id="unknown-operator"),
        pytest.param(["rack"], "must be \\[field, OPERATOR\\]", id="array-too-short"),
        pytest.param(["a", "IS", "b", "c"], "must be \\[field, OPERATOR\\]", id="array-too-long"),
        pytest.param(["rack", "GROUP_BY", 3], "must be \\[field, OPERATOR\\]", id="array-int"),
        pytest.param({"field": "", "operator": "UNIQUE"}, "at least 1 character", id="no-field"),
    ],
)
def test_constraint_refuses(raw: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Constraint.model_validate(raw)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"instances": 0}, id="zero-instances"),
        pytest.param({"mem": "512Mi", "disk": "1Gi"}, id="size-strings"),
        pytest.param({"mem": 4}, id="mem-minimum"),
        pytest.param({"cpus": 0.1}, id="small-cpus"),
        pytest.param({"image": "busybox@sha256:" + "e" * 64}, id="digest-image"),
        pytest.param(
            {"ports": [{"containerPort": 80}], "healthChecks": [{"protocol": "TCP"}]},
            id="health-check-default-port-index",
        ),
        pytest.param({"healthChecks": [{"protocol": "HTTP", "port": 8080}]}, id="explicit-port"),
        pytest.param(
            {"healthChecks": [{"protocol": "COMMAND", "command": "true"}]}, id="command-no-ports"
        ),
        pytest.param(
            {"upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}},
            id="upgrade-zero",
        ),
    ],
)
def test_app_spec_accepts(spec: dict[str, Any]) -> None:
    AppSpec.model_validate({"image": IMAGE, **spec})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"image": "Cart:1"}, "is not a docker reference", id="bad-image"),
        pytest.param({"instances": -1}, "greater than or equal to 0", id="negative-instances"),
        pytest.param({"cpus": 0}, "greater than 0", id="zero-cpus"),
        pytest.param({"mem": 3}, "greater than or equal to 4", id="mem-below-4"),
        pytest.param({"mem": "2G"}, "look like 512Mi, 2Gi", id="mem-decimal-unit"),
        pytest.param({"disk": -1}, "greater than or equal to 0", id="negative-disk"),
        pytest.param({"ipPool": "Pool_1"}, "must be a DNS label", id="pool-name"),
        pytest.param({"env": {"MY-VAR": "x"}}, "environment variable name", id="env-name"),
        pytest.param(
            {"ports": [{"containerPort": 80}, {"containerPort": 80}]},
            "containerPort appears twice",
            id="duplicate-port",
        ),
        pytest.param({"ports": [{"containerPort": 0}]}, "greater than or equal to 1", id="port-0"),
        pytest.param(
            {"ports": [{"containerPort": 53, "protocol": "sctp"}]}, "pattern", id="port-protocol"
        ),
        pytest.param(
            {
                "volumes": [
                    {"hostPath": "/a", "containerPath": "/logs"},
                    {"hostPath": "/b", "containerPath": "/logs"},
                ]
            },
            "containerPath appears twice",
            id="duplicate-mount",
        ),
        pytest.param(
            {"healthChecks": [{"protocol": "HTTP"}]},
            "uses portIndex 0 but the app declares 0 port",
            id="health-check-without-ports",
        ),
        pytest.param(
            {"ports": [{"containerPort": 80}], "healthChecks": [{"portIndex": 1}]},
            "uses portIndex 1 but the app declares 1 port",
            id="health-check-index-out-of-range",
        ),
        pytest.param(
            {"upgradeStrategy": {"minimumHealthCapacity": 1.5}},
            "less than or equal to 1",
            id="min-health-above-1",
        ),
        pytest.param(
            {"upgradeStrategy": {"maximumOverCapacity": -0.1}},
            "greater than or equal to 0",
            id="over-capacity-negative",
        ),
        pytest.param(
            {"backoff": {"backoffFactor": 0.5}}, "greater than or equal to 1", id="factor"
        ),
        pytest.param({"backoff": {"backoffSeconds": 0}}, "greater than 0", id="backoff-zero"),
        pytest.param(
            {"backoff": {"backoffSeconds": 10, "maxLaunchDelaySeconds": 5}},
            "maxLaunchDelaySeconds \\(5.0\\) is below backoffSeconds \\(10.0\\)",
            id="max-delay-below-first",
        ),
        pytest.param({"replicas": 3}, "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_app_spec_refuses(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AppSpec.model_validate({"image": IMAGE, **spec})


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        pytest.param(0, 0.0, id="no-failure"),
        pytest.param(1, 1.0, id="first"),
        pytest.param(2, 1.15, id="second"),
        pytest.param(100, 300.0, id="capped"),
    ],
)
def test_backoff_delay_grows_and_is_capped(failures: int, delay: float) -> None:
    assert Backoff().delay(failures) == pytest.approx(delay)


@pytest.mark.parametrize(
    ("env", "timezone", "expected"),
    [
        pytest.param({}, "Asia/Shanghai", {"TZ": "Asia/Shanghai"}, id="tz-from-domain"),
        pytest.param(
            {"LANG": "C"}, "Asia/Shanghai", {"TZ": "Asia/Shanghai", "LANG": "C"}, id="merged"
        ),
        pytest.param({"TZ": "UTC"}, "Asia/Shanghai", {"TZ": "UTC"}, id="app-tz-wins"),
        pytest.param({}, "UTC", {"TZ": "UTC"}, id="default-domain"),
    ],
)
def test_effective_env_takes_tz_from_the_domain(
    env: dict[str, str], timezone: str, expected: dict[str, str]
) -> None:
    assert effective_env(_app({"env": env}), _domain(timezone=timezone)) == expected


def test_effective_env_without_domain_is_the_apps_own() -> None:
    assert effective_env(_app({"env": {"A": "1"}}), None) == {"A": "1"}


def test_effective_env_refuses_another_domain() -> None:
    with pytest.raises(ValueError, match="belongs to domain 'checkout', not 'search'"):
        effective_env(_app({}), _domain("search"))


def test_a_command_app_needs_no_image() -> None:
    spec = AppSpec.model_validate(
        {"command": ["/usr/bin/registry", "serve"], "ports": [{"containerPort": 5000}]}
    )
    assert spec.image is None and spec.command == ["/usr/bin/registry", "serve"]


def test_an_app_without_image_or_command_is_one_clear_error() -> None:
    with pytest.raises(
        ValidationError, match="an App needs an image, or a command to run without one"
    ):
        AppSpec.model_validate({"instances": 2})
    with pytest.raises(ValidationError, match="an image, or a command"):
        AppSpec.model_validate({"command": []})


def test_a_host_network_app_takes_no_pool() -> None:
    spec = AppSpec.model_validate({"image": "platform/flume:1.7.0", "network": "host"})
    assert spec.network == "host"
    with pytest.raises(ValidationError, match="ipPool: vlan20 is given but network is host"):
        AppSpec.model_validate(
            {"image": "platform/flume:1.7.0", "network": "host", "ipPool": "vlan20"}
        )
