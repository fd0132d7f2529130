"""Field types shared by several kinds: sizes, durations, time zones, images,
label selectors, volumes and health checks.

Each type validates on its own, so a kind's model only states which fields it
has. Scalar types are ``Annotated`` aliases: the value on the wire stays what
the operator wrote (a duration stays ``"1h30m"``), except sizes, which are
normalised to MiB because Mesos schedules memory and disk in MiB. Every alias
carries an explicit JSON schema so ``crds/schemas/`` and ``dcosctl explain``
show the accepted forms. The kinds themselves live one per module
(:mod:`crds.app`, :mod:`crds.domain`, ...).
"""

from __future__ import annotations

import enum
import posixpath
import re
from datetime import timedelta
from ipaddress import IPv4Network
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from crds.meta import DcosModel, check_dns_label

__all__ = [
    "AbsolutePath",
    "DiskMiB",
    "Duration",
    "EnvMap",
    "HealthCheck",
    "HealthCheckProtocol",
    "IPv4Cidr",
    "ImageRef",
    "LabelSelector",
    "MemoryMiB",
    "Name",
    "Port",
    "SelectorOperator",
    "SelectorRequirement",
    "Timezone",
    "Volume",
    "VolumeMode",
    "parse_duration",
    "parse_mebibytes",
]

# --- sizes -------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti)?\s*$")
_UNIT_IN_MIB = {None: 1.0, "Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0 * 1024}
_SIZE_PATTERN = r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti)?$"


def parse_mebibytes(value: Any) -> Any:
    """A size in MiB from a number (already MiB) or a string like ``512Mi`` or ``2Gi``."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value  # numbers go on to pydantic's own float check
    match = _SIZE.fullmatch(value)
    if match is None:
        raise ValueError(f"size {value!r} must be a number of MiB or look like 512Mi, 2Gi, 1Ti")
    return float(match.group(1)) * _UNIT_IN_MIB[match.group(2)]


def _size_schema(minimum: float) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "number", "minimum": minimum},
            {"type": "string", "pattern": _SIZE_PATTERN},
        ]
    }


def _compact(mib: float) -> float | int:
    """4096.0 is written as 4096 on the wire; fractions stay."""
    return int(mib) if float(mib).is_integer() else mib


_SIZE_SERIALIZER = PlainSerializer(_compact, return_type=float | int, when_used="json")

MemoryMiB = Annotated[
    float,
    BeforeValidator(parse_mebibytes),
    Field(ge=4),
    WithJsonSchema(_size_schema(4)),
    _SIZE_SERIALIZER,
]
"""Memory in MiB (at least 4); ``"512Mi"`` and ``"2Gi"`` are accepted and stored as MiB."""

DiskMiB = Annotated[
    float,
    BeforeValidator(parse_mebibytes),
    Field(ge=0),
    WithJsonSchema(_size_schema(0)),
    _SIZE_SERIALIZER,
]
"""Disk in MiB (at least 0); ``"10Gi"`` is accepted and stored as MiB."""

# --- durations ---------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_PATTERN = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"30m"``, ``"2h"``, ``"1h30m"`` or ``"1d"`` as a timedelta."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"duration {text!r} must look like 90s, 30m, 2h or 1h30m")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": _DURATION_PATTERN, "examples": ["30m", "1h30m"]}),
]
"""A duration written as units d, h, m, s in that order: ``90s``, ``30m``, ``1h30m``."""

# --- networks ----------------------------------------------------------------


def _parse_cidr(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return IPv4Network(value)
    except ValueError:
        pass
    try:
        loose = IPv4Network(value, strict=False)
    except ValueError:
        raise ValueError(f"cidr {value!r} is not an IPv4 network like 10.20.0.0/22") from None
    raise ValueError(f"cidr {value!r} has host bits set; did you mean {loose}?")


IPv4Cidr = Annotated[IPv4Network, BeforeValidator(_parse_cidr)]
"""An IPv4 network in CIDR form with its host bits zero, e.g. ``10.20.0.0/22``."""

# --- names, time zones, images, env -----------------------------------------

Name = Annotated[str, AfterValidator(check_dns_label)]
"""The name of another object: a DNS label."""


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone {name!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)"
        ) from None
    return name


Timezone = Annotated[str, AfterValidator(_check_timezone)]
"""An IANA time zone name such as ``Asia/Shanghai`` or ``UTC``."""

_IMAGE = re.compile(
    r"^(?:(?P<registry>(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)/)?"
    r"(?P<repo>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$",
    re.ASCII,
)


def _check_image(ref: str) -> str:
    match = _IMAGE.fullmatch(ref)
    first = match.group("registry") if match else None
    # Docker reads the first part as a registry only with a '.' or ':' or as localhost;
    # otherwise it is a path component and must be lower case like the rest.
    is_registry = first is not None and ("." in first or ":" in first or first == "localhost")
    if match is None or (first is not None and not is_registry and first != first.lower()):
        raise ValueError(
            f"image {ref!r} is not a docker reference [registry[:port]/]repo[:tag][@sha256:...]"
        )
    if len(match.group("repo")) + len(first or "") > 255:
        raise ValueError(f"image {ref!r}: the name is longer than 255 characters")
    return ref


ImageRef = Annotated[
    str,
    AfterValidator(_check_image),
    WithJsonSchema({"type": "string", "examples": ["registry.example.com:5000/shop/cart:1.4.2"]}),
]
"""A docker image reference: ``[registry[:port]/]repo[:tag][@sha256:<64 hex>]``."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_env(env: dict[str, str]) -> dict[str, str]:
    for key in env:
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(f"environment variable name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
    return env


EnvMap = Annotated[dict[str, str], AfterValidator(_check_env)]
"""Environment variables; names are letters, digits and ``_``, not starting with a digit."""

# --- label selectors ---------------------------------------------------------


class SelectorOperator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(DcosModel):
    """One condition on a label: ``key`` In/NotIn some values, or Exists/DoesNotExist."""

    key: str = Field(min_length=1)
    """The label key tested."""
    operator: SelectorOperator
    """In, NotIn (need values), Exists, DoesNotExist (take no values)."""
    values: list[str] = Field(default_factory=list)
    """The values In and NotIn compare against."""

    @model_validator(mode="after")
    def _arity(self) -> Self:
        wants_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if wants_values and not self.values:
            raise ValueError(f"selector on {self.key!r}: operator {self.operator} needs values")
        if not wants_values and self.values:
            raise ValueError(f"selector on {self.key!r}: operator {self.operator} takes no values")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        """True when ``labels`` satisfy this requirement."""
        match self.operator:
            case SelectorOperator.IN:
                return labels.get(self.key) in self.values
            case SelectorOperator.NOT_IN:
                return labels.get(self.key) not in self.values
            case SelectorOperator.EXISTS:
                return self.key in labels
            case SelectorOperator.DOES_NOT_EXIST:
                return self.key not in labels


class LabelSelector(DcosModel):
    """Selects objects (usually Hosts) by their labels. All conditions must hold;
    an empty selector selects everything."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels that must be present with exactly these values."""
    match_expressions: list[SelectorRequirement] = Field(default_factory=list)
    """Further conditions, all of which must hold."""

    def matches(self, labels: dict[str, str]) -> bool:
        """True when ``labels`` satisfy every condition of the selector."""
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        return all(expr.matches(labels) for expr in self.match_expressions)


# --- ports, volumes, health checks -----------------------------------------


class Port(DcosModel):
    """A port the container listens on, at its own IP address."""

    container_port: int = Field(ge=1, le=65535)
    """The port number inside the container."""
    name: str | None = None
    """A name for the port, e.g. http; service discovery publishes it."""
    protocol: str = Field(default="tcp", pattern=r"^(tcp|udp)$")
    """tcp or udp."""


class VolumeMode(enum.StrEnum):
    RO = "RO"
    RW = "RW"


def _check_absolute(path: str) -> str:
    if (
        not path.startswith("/")
        or posixpath.normpath(path) != path.rstrip("/")
        or (".." in path.split("/"))
    ):
        raise ValueError(f"path {path!r} must be absolute and normalised (no '..', no '//')")
    return path


AbsolutePath = Annotated[str, AfterValidator(_check_absolute)]


class Volume(DcosModel):
    """A host directory mounted into the container."""

    host_path: AbsolutePath
    """Absolute directory on the host."""
    container_path: AbsolutePath
    """Absolute directory inside the container."""
    mode: VolumeMode = VolumeMode.RW
    """RO (read-only) or RW (read-write)."""
    per_container_ip: bool = False
    """Append the container's IP to hostPath (/data/logs/cart -> /data/logs/cart/10.20.1.17),
    so instances sharing a host keep their log directories apart."""

    def host_path_for(self, container_ip: str) -> str:
        """The host directory actually mounted for a container with this IP."""
        if not self.per_container_ip:
            return self.host_path
        return posixpath.join(self.host_path, container_ip)


class HealthCheckProtocol(enum.StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    COMMAND = "COMMAND"


class HealthCheck(DcosModel):
    """How Mesos decides an instance is healthy, as Marathon health checks do.
    An instance failing ``maxConsecutiveFailures`` checks in a row is killed and replaced."""

    protocol: HealthCheckProtocol = HealthCheckProtocol.HTTP
    """HTTP, HTTPS (a 2xx/3xx answer is healthy), TCP (a connection is healthy) or COMMAND
    (exit code 0 is healthy)."""
    path: str | None = None
    """HTTP and HTTPS only: the request path; / when not set."""
    port_index: int | None = Field(default=None, ge=0)
    """Which of the app's ports to probe, counting from 0; 0 when neither port
    nor portIndex is set."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """A port number to probe instead of portIndex."""
    command: str | None = None
    """COMMAND only (and required there): shell command run inside the container."""
    grace_period_seconds: int = Field(default=300, ge=0)
    """Failures during this long after the start are ignored."""
    interval_seconds: int = Field(default=60, ge=1)
    """Seconds between two checks."""
    timeout_seconds: int = Field(default=20, ge=1)
    """A check slower than this fails; must be shorter than intervalSeconds."""
    max_consecutive_failures: int = Field(default=3, ge=0)
    """Failed checks in a row before the instance is killed; 0 never kills."""
    delay_seconds: int = Field(default=15, ge=0)
    """Seconds before the first check."""

    @model_validator(mode="after")
    def _protocol_fields(self) -> Self:
        is_command = self.protocol is HealthCheckProtocol.COMMAND
        is_http = self.protocol in (HealthCheckProtocol.HTTP, HealthCheckProtocol.HTTPS)
        if is_command and not self.command:
            raise ValueError("health check: protocol COMMAND needs a command")
        if not is_command and self.command is not None:
            raise ValueError(f"health check: command is only for COMMAND, not {self.protocol}")
        if is_command and (self.port is not None or self.port_index is not None):
            raise ValueError("health check: protocol COMMAND takes no port or portIndex")
        if not is_http and self.path is not None:
            raise ValueError(f"health check: path is only for HTTP and HTTPS, not {self.protocol}")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"health check: path {self.path!r} must start with /")
        if self.port is not None and self.port_index is not None:
            raise ValueError("health check: set port or portIndex, not both")
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(
                f"health check: timeoutSeconds ({self.timeout_seconds}) must be shorter "
                f"than intervalSeconds ({self.interval_seconds})"
            )
        return self
