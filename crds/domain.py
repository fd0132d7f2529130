"""Domain: a business domain (checkout, search, ...) with its own hosts and quota.

A Domain maps to one Mesos role. Its hosts are the Hosts whose ``spec.domain``
names it, plus any matched by ``hostSelector``; Hosts with no domain form the
shared pool. When a domain's own hosts are full, ``sharedPool.borrow`` decides
whether it may place instances on the shared pool, up to ``maxBorrow``; the
App controller gives borrowed instances back (replaced at home within the
App's capacity bounds) once the domain's own hosts have room again. App and
ScalingPolicy objects live inside a domain (``metadata.domain``), and Apps
take their ``TZ`` from the domain's timezone (:func:`crds.app.effective_env`).
"""

from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta
from typing import ClassVar, Literal, Self

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from crds.common import DiskMiB, Duration, LabelSelector, MemoryMiB, Name, Timezone, parse_duration
from crds.meta import DcosModel, PrinterColumn, Resource, Scope, Status
from crds.registry import register

__all__ = [
    "BorrowLimit",
    "BorrowPolicy",
    "Domain",
    "DomainHostStatus",
    "DomainSpec",
    "DomainStatus",
    "FreezeWindow",
    "Quota",
    "SharedPoolPolicy",
]

_ROLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


class Quota(DcosModel):
    """The most the domain may use in total, own hosts and borrowed capacity together.
    A field left out is not limited."""

    cpus: float | None = Field(default=None, ge=0)
    """CPU shares (Mesos cpus)."""
    mem: MemoryMiB | None = None
    """Memory in MiB; "512Gi" is accepted."""
    disk: DiskMiB | None = None
    """Disk in MiB; "2Ti" is accepted."""
    instances: int | None = Field(default=None, ge=0)
    """Running app instances, all apps of the domain together."""


class BorrowPolicy(enum.StrEnum):
    NEVER = "Never"
    WHEN_EXHAUSTED = "WhenExhausted"


class BorrowLimit(DcosModel):
    """The most the domain may take from the shared pool at once."""

    cpus: float | None = Field(default=None, ge=0)
    """CPU shares; not limited when left out."""
    mem: MemoryMiB | None = None
    """Memory in MiB; not limited when left out."""


class FreezeWindow(DcosModel):
    """A time when only instance counts of the domain's Apps may change.

    Either recurring (``cron`` and ``duration``, read in ``timezone`` or the
    domain's) or absolute (``start`` and ``end``, with their UTC offsets).
    """

    name: Name
    """Names the window in refusals, e.g. sale-10am."""
    cron: str | None = None
    """Five-field cron expression of each start, e.g. "50 9 * * *"."""
    duration: Duration | None = None
    """How long each recurring window lasts, e.g. "2h30m"."""
    timezone: Timezone | None = None
    """IANA time zone the cron is read in; the domain's when left out."""
    start: datetime | None = None
    """Start of an absolute window, e.g. 2026-11-11T09:00:00+08:00."""
    end: datetime | None = None
    """End of an absolute window."""

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        recurring = self.cron is not None or self.duration is not None
        absolute = self.start is not None or self.end is not None
        if recurring == absolute:
            raise ValueError(
                f"freeze window {self.name}: give either cron and duration, or start and end"
            )
        if recurring:
            if self.cron is None or self.duration is None:
                raise ValueError(f"freeze window {self.name}: cron needs duration (and back)")
            if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
                raise ValueError(
                    f"freeze window {self.name}: cron {self.cron!r} is not a five-field "
                    "cron expression like '0 10 * * *'"
                )
            if parse_duration(self.duration) <= timedelta(0):
                raise ValueError(f"freeze window {self.name}: duration must be longer than 0s")
        else:
            if self.start is None or self.end is None:
                raise ValueError(f"freeze window {self.name}: start needs end (and back)")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError(
                    f"freeze window {self.name}: start and end need a UTC offset, "
                    "e.g. 2026-11-11T09:00:00+08:00"
                )
            if self.end <= self.start:
                raise ValueError(f"freeze window {self.name}: end is not after start")
        if self.timezone is not None and self.cron is None:
            raise ValueError(f"freeze window {self.name}: timezone applies to cron windows only")
        return self


class SharedPoolPolicy(DcosModel):
    """Whether the domain may borrow capacity from the shared pool (hosts with no domain)."""

    borrow: BorrowPolicy = BorrowPolicy.NEVER
    """Never: instances wait for the domain's own hosts. WhenExhausted: place on the
    shared pool once the domain's own hosts are full; give back when they have room."""
    max_borrow: BorrowLimit | None = None
    """Upper bound of borrowed capacity; only with borrow: WhenExhausted."""

    @model_validator(mode="after")
    def _limit_needs_borrowing(self) -> Self:
        if self.borrow is BorrowPolicy.NEVER and self.max_borrow is not None:
            raise ValueError("sharedPool.maxBorrow is set but borrow is Never")
        return self


class DomainSpec(DcosModel):
    """What the domain owns and how its work is scheduled."""

    host_selector: LabelSelector | None = None
    """Extra hosts of the domain, by label, besides those whose spec.domain names it.
    Left out, only spec.domain counts."""
    quota: Quota = Quota()
    """The most the domain may use; nothing is limited by default."""
    shared_pool: SharedPoolPolicy = SharedPoolPolicy()
    """Borrowing from the shared pool; by default the domain never borrows."""
    priority: int = Field(default=0, ge=0, le=1000)
    """0-1000: when domains compete for the shared pool, the higher priority is served first."""
    role: str | None = None
    """The Mesos role the domain's tasks run under; the domain's name when left out."""
    timezone: Timezone = "UTC"
    """IANA time zone of the business (e.g. Asia/Shanghai): the default TZ of its apps'
    containers and of its scaling schedules."""
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    """Times when `dcosctl apply` may change only the instances of the domain's Apps."""

    @field_validator("role")
    @classmethod
    def _role_is_mesos_role(cls, value: str | None) -> str | None:
        if value is not None and (not _ROLE.fullmatch(value) or value in (".", "..")):
            raise ValueError(
                f"role {value!r} is not a Mesos role: letters, digits, '_', '.', '-', "
                "'/' between parts, not starting with '-' or '.'"
            )
        return value


class DomainHostStatus(DcosModel):
    """One host of the domain's own, or of the shared pool while the domain borrows there."""

    host: str
    """The host's name."""
    borrowed: bool = False
    """A shared-pool host the domain's instances borrow; False: one of its own hosts."""
    cpus: float | None = None
    """CPU shares of the host (its own hosts only)."""
    mem: float | None = None
    """Memory in MiB of the host (its own hosts only)."""
    used_cpus: float = 0.0
    """CPU shares its instances there use."""
    used_mem: float = 0.0
    """Memory in MiB its instances there use."""
    instances: int = 0
    """Its live instances there."""


class DomainStatus(Status):
    """What the Domain controller observed."""

    hosts: int | None = None
    """Active hosts dedicated to the domain."""
    capacity_cpus: float | None = None
    """CPU shares of the domain's own hosts."""
    capacity_mem: float | None = None
    """Memory in MiB of the domain's own hosts."""
    allocated_cpus: float | None = None
    """CPU shares used by the domain's instances, borrowed included."""
    allocated_mem: float | None = None
    """Memory in MiB used by the domain's instances, borrowed included."""
    instances: int | None = None
    """Running instances of all the domain's apps."""
    borrowed_cpus: float | None = None
    """CPU shares currently taken from the shared pool."""
    borrowed_mem: float | None = None
    """Memory in MiB currently taken from the shared pool."""
    per_host: list[DomainHostStatus] = Field(default_factory=list)
    """Capacity and use per host: its own hosts, then the shared-pool hosts it borrows."""


@register
class Domain(Resource):
    """A business domain: its hosts, quota, shared-pool borrowing and Mesos role."""

    SCOPE: ClassVar[Scope] = Scope.CLUSTER
    PLURAL: ClassVar[str] = "domains"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("domain", "dom")
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn(name="PRIORITY", path="spec.priority"),
        PrinterColumn(name="BORROW", path="spec.sharedPool.borrow"),
        PrinterColumn(name="HOSTS", path="status.hosts"),
        PrinterColumn(name="INSTANCES", path="status.instances"),
        PrinterColumn(name="CPUS", path="status.allocatedCpus"),
        PrinterColumn(name="CAPACITY-CPUS", path="status.capacityCpus", wide=True),
        PrinterColumn(name="BORROWED-CPUS", path="status.borrowedCpus"),
        PrinterColumn(name="TIMEZONE", path="spec.timezone", wide=True),
        PrinterColumn(name="ROLE", path="spec.role", wide=True),
    )

    kind: Literal["Domain"] = "Domain"
    """Always Domain."""
    spec: DomainSpec
    """What the domain owns and how its work is scheduled."""
    status: DomainStatus = DomainStatus()
    """What the Domain controller observed."""

    @property
    def mesos_role(self) -> str:
        """The Mesos role of the domain: spec.role, or the domain's name."""
        return self.spec.role or self.metadata.name
