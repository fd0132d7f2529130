"""App: a long-running service of a domain, N identical Docker containers.

The spec follows Marathon's app definition, which the platform used before:
resources, constraints in Marathon's operators (the array form
``["rack", "GROUP_BY", "3"]`` is accepted and normalised to objects), health
checks, upgrade strategy and launch backoff with Marathon's defaults. Each
instance gets its own IP from ``ipPool`` (or the pool of the host it lands
on). The App controller keeps ``instances`` running and rolls upgrades; the
placement pipeline in the reconciler evaluates ``constraints``.

An App belongs to a Domain (``metadata.domain``); :func:`effective_env` adds
the domain's timezone as ``TZ`` unless the app sets its own.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from crds.common import (
    DiskMiB,
    EnvMap,
    HealthCheck,
    ImageRef,
    MemoryMiB,
    Name,
    Port,
    Volume,
)
from crds.domain import Domain
from crds.meta import DcosModel, PrinterColumn, Resource, Scope, Status
from crds.registry import register

__all__ = [
    "App",
    "AppSpec",
    "AppStatus",
    "Backoff",
    "Constraint",
    "ConstraintOperator",
    "ContainerNetwork",
    "UpgradeStrategy",
    "effective_env",
]


class ConstraintOperator(enum.StrEnum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"
    IS = "IS"


_NEEDS_VALUE = {
    ConstraintOperator.CLUSTER,
    ConstraintOperator.LIKE,
    ConstraintOperator.UNLIKE,
    ConstraintOperator.IS,
    ConstraintOperator.MAX_PER,
}
_INTEGER_VALUE = {ConstraintOperator.MAX_PER, ConstraintOperator.GROUP_BY}
_REGEX_VALUE = {ConstraintOperator.LIKE, ConstraintOperator.UNLIKE}


class ContainerNetwork(enum.StrEnum):
    """How a container is networked."""

    BRIDGE = "bridge"
    """Its own address, from the IPPool of its host when a pool selects the host."""
    HOST = "host"
    """The host's network: no address of its own, its ports are the offer's."""


class Constraint(DcosModel):
    """Where instances may go, as a Marathon constraint on a host attribute.

    UNIQUE: one instance per value. CLUSTER value: only hosts with that value.
    GROUP_BY [n]: spread evenly over the values (n of them if given). LIKE regex /
    UNLIKE regex: only hosts whose value matches / does not match. MAX_PER n: at most
    n instances per value. IS value: the value equals exactly. Also accepted in
    Marathon's array form ["rack", "GROUP_BY", "3"].
    """

    field: str = Field(min_length=1)
    """The host attribute: hostname, rack, dc, or a custom attribute."""
    operator: ConstraintOperator
    """UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS."""
    value: str | None = None
    """The operator's argument: none for UNIQUE, optional for GROUP_BY, required otherwise."""

    @model_validator(mode="before")
    @classmethod
    def _from_marathon_array(cls, data: Any) -> Any:
        if not isinstance(data, list | tuple):
            return data
        if len(data) not in (2, 3) or not all(isinstance(part, str) for part in data):
            raise ValueError(
                f"constraint {list(data)!r} must be [field, OPERATOR] or [field, OPERATOR, value]"
            )
        return dict(zip(("field", "operator", "value"), data, strict=False))

    @field_validator("value", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # MAX_PER 2 is often written unquoted in YAML; Marathon keeps values as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _arity(self) -> Self:
        op, value = self.operator, self.value
        if op is ConstraintOperator.UNIQUE and value is not None:
            raise ValueError(f"constraint {self.field} UNIQUE takes no value")
        if op in _NEEDS_VALUE and value is None:
            raise ValueError(f"constraint {self.field} {op} needs a value")
        if op in _INTEGER_VALUE and value is not None and not (value.isdigit() and int(value) > 0):
            raise ValueError(
                f"constraint {self.field} {op} value {value!r} must be a positive integer"
            )
        if op in _REGEX_VALUE and value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"constraint {self.field} {op} value {value!r} is not a valid regex: {exc}"
                ) from None
        return self


def _constraint_items_schema(schema: dict[str, Any]) -> None:
    """Let schema-aware editors accept Marathon's array form next to the object form."""
    marathon = {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3}
    schema["items"] = {"anyOf": [schema["items"], marathon]}


class UpgradeStrategy(DcosModel):
    """How a new version replaces the old, as in Marathon."""

    minimum_health_capacity: float = Field(default=1.0, ge=0, le=1)
    """Share of spec.instances that must stay healthy during an upgrade, 0-1.
    1 starts new instances before stopping old ones; 0 may stop all old ones first."""
    maximum_over_capacity: float = Field(default=1.0, ge=0, le=1)
    """Share of spec.instances that may run on top of it during an upgrade, 0-1."""
    auto_rollback: bool = False
    """A rollout that misses its progress deadline goes back to the previous good version."""


class Backoff(DcosModel):
    """The delay before relaunching an instance that failed, as in Marathon."""

    backoff_seconds: float = Field(default=1.0, gt=0)
    """The first delay after a failure."""
    backoff_factor: float = Field(default=1.15, ge=1)
    """Each further failure multiplies the delay by this."""
    max_launch_delay_seconds: float = Field(default=300.0, gt=0)
    """The delay never grows past this."""

    @model_validator(mode="after")
    def _max_covers_first(self) -> Self:
        if self.max_launch_delay_seconds < self.backoff_seconds:
            raise ValueError(
                f"backoff: maxLaunchDelaySeconds ({self.max_launch_delay_seconds}) is "
                f"below backoffSeconds ({self.backoff_seconds})"
            )
        return self

    def delay(self, failures: int) -> float:
        """Seconds to wait before the next launch after ``failures`` failures in a row."""
        if failures <= 0:
            return 0.0
        raw = self.backoff_seconds * self.backoff_factor ** (failures - 1)
        return min(raw, self.max_launch_delay_seconds)


class AppSpec(DcosModel):
    """The service's containers, how many, where they may run and how they are checked."""

    image: ImageRef | None = None
    """Docker image: [registry[:port]/]repo[:tag][@sha256:digest]. Left out, the App
    runs ``command`` on the host as a Mesos command task (no container)."""
    command: list[str] | None = None
    """Replaces the image's entrypoint, e.g. ["/bin/cart"]; without an image, the
    program and arguments to run on the host (the offer's ports as PORT0, PORT1...)."""
    args: list[str] | None = None
    """Replaces the image's default arguments (cmd)."""
    instances: int = Field(default=1, ge=0)
    """How many containers to keep running; 0 stops the app and keeps its definition."""
    cpus: float = Field(default=1.0, gt=0)
    """CPU shares per container."""
    mem: MemoryMiB = 128
    """Memory per container in MiB, at least 4; "512Mi" and "2Gi" are accepted."""
    disk: DiskMiB = 0
    """Scratch disk per container in MiB."""
    ports: list[Port] = Field(default_factory=list)
    """Ports the container listens on at its own IP; health checks refer to them by index."""
    env: EnvMap = Field(default_factory=dict)
    """Environment variables; TZ defaults to the domain's timezone."""
    volumes: list[Volume] = Field(default_factory=list)
    """Host directories mounted into the container, e.g. the log directory."""
    ip_pool: Name | None = None
    """The IPPool container addresses come from; left out, the pool of the host."""
    network: ContainerNetwork = ContainerNetwork.BRIDGE
    """bridge: an address of its own from the IPPool (above); host: share the host's
    network and take no pool address, as per-host agents do. An App without an image
    always shares the host's network."""
    constraints: list[Constraint] = Field(
        default_factory=list, json_schema_extra=_constraint_items_schema
    )
    """Placement rules on host attributes, all of which must hold."""
    health_checks: list[HealthCheck] = Field(default_factory=list)
    """Checks deciding whether an instance is healthy; an instance is ready when all pass."""
    upgrade_strategy: UpgradeStrategy = UpgradeStrategy()
    """How a new version replaces the old."""
    backoff: Backoff = Backoff()
    """The delay before relaunching failed instances."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels put on the Mesos tasks and Docker containers (not used for selection)."""
    progress_deadline_seconds: int = Field(default=600, ge=1)
    """A rollout that makes no progress for this long fails (Progressing=False)."""

    @model_validator(mode="after")
    def _image_or_command(self) -> Self:
        if self.image is None and not self.command:
            raise ValueError("an App needs an image, or a command to run without one")
        if self.network is ContainerNetwork.HOST and self.ip_pool is not None:
            raise ValueError(
                f"ipPool: {self.ip_pool} is given but network is host (no address of its own)"
            )
        return self

    @model_validator(mode="after")
    def _references(self) -> Self:
        numbers = [port.container_port for port in self.ports]
        if len(numbers) != len(set(numbers)):
            raise ValueError(f"ports: a containerPort appears twice in {numbers}")
        paths = [volume.container_path for volume in self.volumes]
        if len(paths) != len(set(paths)):
            raise ValueError(f"volumes: a containerPath appears twice in {paths}")
        for check in self.health_checks:
            if check.command is not None or check.port is not None:
                continue
            index = check.port_index or 0
            if index >= len(self.ports):
                raise ValueError(
                    f"health check {check.protocol} uses portIndex {index} "
                    f"but the app declares {len(self.ports)} port(s)"
                )
        return self


class AppStatus(Status):
    """What the App controller observed."""

    instances: int | None = None
    """Containers running, any version, healthy or not."""
    ready_instances: int | None = None
    """Containers of the current version passing all health checks."""
    healthy_instances: int | None = None
    """Containers of any version passing all health checks."""
    version: str | None = None
    """Version of the spec the running containers are converging to."""
    last_placement: str | None = None
    """Why the last unplaced instance could not be placed, e.g.
    "4 agents filtered: attribute rack!=r2 (3), cpus exhausted (1)"."""
    running_instances: int | None = None
    """Containers in state Running, any version."""
    updated_instances: int | None = None
    """Containers of the current version, running or starting."""
    revision: int | None = None
    """Revision number of the version being rolled out (see rollout history)."""
    consecutive_failures: int | None = None
    """Failures of the current version in a row; launches back off while it grows."""
    last_failure_message: str | None = None
    """What Mesos said about the last failed container."""
    last_failure_at: datetime | None = None
    """When the last container failed."""
    placement: str | None = None
    """Why instances are waiting for an offer, e.g.
    "12 agents filtered: cpus exhausted (8), UNIQUE hostname (4)"; empty once all are placed."""


@register
class App(Resource):
    """A long-running service of a domain: N identical containers, each with its own IP."""

    SCOPE: ClassVar[Scope] = Scope.DOMAIN
    PLURAL: ClassVar[str] = "apps"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("app",)
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn(name="INSTANCES", path="spec.instances"),
        PrinterColumn(name="READY", path="status.readyInstances"),
        PrinterColumn(name="HEALTHY", path="status.healthyInstances"),
        PrinterColumn(name="IMAGE", path="spec.image", wide=True),
        PrinterColumn(name="POOL", path="spec.ipPool", wide=True),
        PrinterColumn(name="CPUS", path="spec.cpus", wide=True),
        PrinterColumn(name="MEM", path="spec.mem", wide=True),
    )

    kind: Literal["App"] = "App"
    """Always App."""
    spec: AppSpec
    """The service's containers, how many, where they may run and how they are checked."""
    status: AppStatus = AppStatus()
    """What the App controller observed."""


def effective_env(app: App, domain: Domain | None) -> dict[str, str]:
    """The environment the app's containers get: ``TZ`` from the domain, then the
    app's own variables (an app's own ``TZ`` wins).

    ``domain`` must be the app's domain (``app.metadata.domain``); ``None`` when it
    is not known adds nothing.
    """
    if domain is None:
        return dict(app.spec.env)
    if domain.metadata.name != app.metadata.domain:
        raise ValueError(
            f"app {app.metadata.name!r} belongs to domain {app.metadata.domain!r}, "
            f"not {domain.metadata.name!r}"
        )
    return {"TZ": domain.spec.timezone, **app.spec.env}
