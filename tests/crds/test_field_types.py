"""Shared field types: sizes, durations, time zones, images, selectors, volumes, health checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from crds.common import (
    DiskMiB,
    Duration,
    EnvMap,
    HealthCheck,
    ImageRef,
    LabelSelector,
    MemoryMiB,
    Timezone,
    Volume,
    parse_duration,
)


def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("30m", timedelta(minutes=30), id="minutes"),
        pytest.param("2h", timedelta(hours=2), id="hours"),
        pytest.param("1h30m", timedelta(minutes=90), id="hours-minutes"),
        pytest.param("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4), id="all-units"),
        pytest.param("0s", timedelta(0), id="zero"),
    ],
)
def test_parse_duration_accepts_units_in_order(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert _adapter(Duration).validate_python(text) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("30", id="no-unit"),
        pytest.param("30x", id="unknown-unit"),
        pytest.param("30m1h", id="wrong-order"),
        pytest.param("1.5h", id="fraction"),
        pytest.param(" 30m", id="leading-space"),
        pytest.param("30m\n", id="trailing-newline"),
    ],
)
def test_parse_duration_refuses_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="must look like 90s, 30m, 2h or 1h30m"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        pytest.param(512, 512.0, id="number-is-mib"),
        pytest.param(0.5 * 1024, 512.0, id="float"),
        pytest.param("512Mi", 512.0, id="mebibytes"),
        pytest.param("2Gi", 2048.0, id="gibibytes"),
        pytest.param("1.5Gi", 1536.0, id="fractional-gibibytes"),
        pytest.param("1Ti", 1024.0 * 1024, id="tebibytes"),
        pytest.param("8192Ki", 8.0, id="kibibytes"),
        pytest.param("64", 64.0, id="bare-string"),
    ],
)
def test_memory_sizes_normalise_to_mib(value: Any, mib: float) -> None:
    assert _adapter(MemoryMiB).validate_python(value) == mib


@pytest.mark.parametrize(
    ("tp", "value", "message"),
    [
        pytest.param(MemoryMiB, 2, "greater than or equal to 4", id="mem-below-4"),
        pytest.param(MemoryMiB, "3Mi", "greater than or equal to 4", id="mem-string-below-4"),
        pytest.param(MemoryMiB, "2GB", "look like 512Mi, 2Gi", id="decimal-unit"),
        pytest.param(MemoryMiB, "lots", "look like 512Mi, 2Gi", id="not-a-size"),
        pytest.param(DiskMiB, -1, "greater than or equal to 0", id="negative-disk"),
    ],
)
def test_sizes_refuse_bad_values(tp: Any, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _adapter(tp).validate_python(value)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        pytest.param("Asia/Shanghai", True, id="shanghai"),
        pytest.param("UTC", True, id="utc"),
        pytest.param("America/Argentina/Buenos_Aires", True, id="three-parts"),
        pytest.param("Asia/Beijing", False, id="not-a-zone"),
        pytest.param("CST+8", False, id="offset"),
        pytest.param("../etc/passwd", False, id="path"),
        pytest.param("", False, id="empty"),
    ],
)
def test_timezone_must_be_iana(name: str, valid: bool) -> None:
    if valid:
        assert _adapter(Timezone).validate_python(name) == name
    else:
        with pytest.raises(ValidationError, match="is not an IANA time zone"):
            _adapter(Timezone).validate_python(name)


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("busybox", id="bare"),
        pytest.param("library/busybox:1.36", id="path-tag"),
        pytest.param("registry.example.com/shop/cart", id="registry"),
        pytest.param("registry.example.com:5000/shop/cart:2.3.1", id="registry-port-tag"),
        pytest.param("localhost:5000/cart", id="localhost"),
        pytest.param("localhost/cart", id="localhost-no-port"),
        pytest.param("Registry.Example.com/cart", id="upper-case-registry"),
        pytest.param("cart@sha256:" + "a" * 64, id="digest"),
        pytest.param("r.example.com/shop/cart:2.3@sha256:" + "0" * 64, id="tag-and-digest"),
        pytest.param("shop/cart_api__v2-beta", id="separators"),
    ],
)
def test_image_accepts_docker_references(ref: str) -> None:
    assert _adapter(ImageRef).validate_python(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("", id="empty"),
        pytest.param("Shop/cart", id="upper-case-path"),
        pytest.param("shop/Cart", id="upper-case-repo"),
        pytest.param("cart:", id="empty-tag"),
        pytest.param("cart:-x", id="tag-starts-with-dash"),
        pytest.param("cart@sha256:abc", id="short-digest"),
        pytest.param("cart@md5:" + "a" * 32, id="other-digest"),
        pytest.param("registry.example.com:port/cart", id="port-not-a-number"),
        pytest.param("shop//cart", id="empty-component"),
        pytest.param("http://registry/cart", id="url"),
        pytest.param("cart:v1\u00e9", id="non-ascii-tag"),
        pytest.param("cart:1\n", id="trailing-newline"),
    ],
)
def test_image_refuses_malformed_references(ref: str) -> None:
    with pytest.raises(ValidationError, match="is not a docker reference"):
        _adapter(ImageRef).validate_python(ref)


def test_env_names_must_be_shell_identifiers() -> None:
    assert _adapter(EnvMap).validate_python({"TZ": "UTC", "_X1": ""}) == {"TZ": "UTC", "_X1": ""}
    with pytest.raises(ValidationError, match="environment variable name '1X'"):
        _adapter(EnvMap).validate_python({"1X": "a"})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param({"key": "rack", "operator": "In"}, "In needs values", id="in-without"),
        pytest.param(
            {"key": "rack", "operator": "NotIn"}, "NotIn needs values", id="notin-without"
        ),
        pytest.param(
            {"key": "rack", "operator": "Exists", "values": ["r1"]},
            "Exists takes no values",
            id="exists-with",
        ),
        pytest.param(
            {"key": "rack", "operator": "DoesNotExist", "values": ["r1"]},
            "DoesNotExist takes no values",
            id="doesnotexist-with",
        ),
        pytest.param({"key": "rack", "operator": "Like"}, "operator", id="unknown-operator"),
        pytest.param({"key": "", "operator": "Exists"}, "at least 1 character", id="empty-key"),
    ],
)
def test_selector_requirement_arity(expression: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LabelSelector.model_validate({"matchExpressions": [expression]})


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        pytest.param({}, {}, True, id="empty-selects-all"),
        pytest.param({"matchLabels": {"vlan": "110"}}, {"vlan": "110"}, True, id="label-equal"),
        pytest.param({"matchLabels": {"vlan": "110"}}, {"vlan": "120"}, False, id="label-differs"),
        pytest.param({"matchLabels": {"vlan": "110"}}, {}, False, id="label-missing"),
        pytest.param(
            {"matchExpressions": [{"key": "vlan", "operator": "In", "values": ["1", "2"]}]},
            {"vlan": "2"},
            True,
            id="in",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "vlan", "operator": "NotIn", "values": ["1"]}]},
            {},
            True,
            id="notin-missing-key",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]},
            {"ssd": ""},
            True,
            id="exists",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "ssd", "operator": "DoesNotExist"}]},
            {"ssd": "yes"},
            False,
            id="does-not-exist",
        ),
        pytest.param(
            {
                "matchLabels": {"rack": "r1"},
                "matchExpressions": [{"key": "ssd", "operator": "Exists"}],
            },
            {"rack": "r1"},
            False,
            id="all-must-hold",
        ),
    ],
)
def test_selector_matches_labels(
    selector: dict[str, Any], labels: dict[str, str], matches: bool
) -> None:
    assert LabelSelector.model_validate(selector).matches(labels) is matches


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        pytest.param(
            {"hostPath": "data/logs", "containerPath": "/logs"}, "absolute", id="relative"
        ),
        pytest.param({"hostPath": "/data/../etc", "containerPath": "/x"}, "absolute", id="dotdot"),
        pytest.param(
            {"hostPath": "/data//logs", "containerPath": "/x"}, "absolute", id="dbl-slash"
        ),
        pytest.param({"hostPath": "/a", "containerPath": "/x", "mode": "rw"}, "RO", id="bad-mode"),
        pytest.param({"hostPath": "/", "containerPath": "/x"}, "absolute", id="root"),
    ],
)
def test_volume_refuses_bad_paths_and_modes(volume: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Volume.model_validate(volume)


def test_volume_per_container_ip_appends_the_address() -> None:
    volume = Volume.model_validate(
        {"hostPath": "/data/logs/cart", "containerPath": "/var/log/cart", "perContainerIp": True}
    )
    assert volume.mode == "RW"
    assert volume.host_path_for("10.110.0.17") == "/data/logs/cart/10.110.0.17"
    shared = volume.model_copy(update={"per_container_ip": False})
    assert shared.host_path_for("10.110.0.17") == "/data/logs/cart"


def test_health_check_defaults_follow_marathon() -> None:
    check = HealthCheck()
    assert (check.protocol, check.path, check.port_index, check.port) == ("HTTP", None, None, None)
    assert check.grace_period_seconds == 300
    assert (check.interval_seconds, check.timeout_seconds) == (60, 20)
    assert (check.max_consecutive_failures, check.delay_seconds) == (3, 15)


@pytest.mark.parametrize(
    "check",
    [
        pytest.param({"protocol": "HTTP", "path": "/healthz", "portIndex": 1}, id="http"),
        pytest.param({"protocol": "HTTPS", "port": 8443}, id="https-port"),
        pytest.param({"protocol": "TCP"}, id="tcp"),
        pytest.param({"protocol": "COMMAND", "command": "true"}, id="command"),
        pytest.param({"intervalSeconds": 10, "timeoutSeconds": 9}, id="timeout-just-below"),
    ],
)
def test_health_check_accepts(check: dict[str, Any]) -> None:
    HealthCheck.model_validate(check)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        pytest.param({"protocol": "COMMAND"}, "COMMAND needs a command", id="command-missing"),
        pytest.param({"protocol": "TCP", "command": "true"}, "only for COMMAND", id="cmd-on-tcp"),
        pytest.param(
            {"protocol": "COMMAND", "command": "true", "portIndex": 0},
            "COMMAND takes no port",
            id="port-on-command",
        ),
        pytest.param({"protocol": "TCP", "path": "/"}, "only for HTTP and HTTPS", id="tcp-path"),
        pytest.param({"path": "healthz"}, "must start with /", id="relative-path"),
        pytest.param({"port": 80, "portIndex": 0}, "port or portIndex, not both", id="both-ports"),
        pytest.param(
            {"intervalSeconds": 10, "timeoutSeconds": 10},
            r"timeoutSeconds \(10\) must be shorter than intervalSeconds \(10\)",
            id="timeout-not-below-interval",
        ),
        pytest.param({"protocol": "UDP"}, "protocol", id="unknown-protocol"),
        pytest.param({"port": 70000}, "less than or equal to 65535", id="port-range"),
        pytest.param({"portIndex": -1}, "greater than or equal to 0", id="negative-index"),
    ],
)
def test_health_check_refuses(check: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HealthCheck.model_validate(check)


def test_models_are_frozen() -> None:
    check = HealthCheck()
    with pytest.raises(ValidationError, match="frozen"):
        check.path = "/x"  # type: ignore[misc]
    assert isinstance(check, BaseModel)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        pytest.param("4Gi", 4096, id="whole-mib-as-int"),
        pytest.param(4.5, 4.5, id="fraction-kept"),
    ],
)
def test_sizes_are_written_compactly(value: Any, wire: float) -> None:
    dumped = _adapter(MemoryMiB).dump_python(
        _adapter(MemoryMiB).validate_python(value), mode="json"
    )
    assert dumped == wire
    assert type(dumped) is type(wire)
