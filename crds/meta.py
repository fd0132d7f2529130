"""The envelope every resource shares: apiVersion, kind, metadata, spec, status.

Every model is frozen and forbids unknown fields, so a typo in a spec is an
error, never a silently ignored key. Python attributes are snake_case; the
wire (YAML, JSON, etcd) is camelCase through an alias generator, so
``min_health_capacity`` reads and writes as ``minHealthCapacity``.

Kinds subclass :class:`Resource` and set ``SCOPE`` (cluster or domain), the
spec and status models, and their names (plural, short names). The registry
in :mod:`crds.registry` maps a ``kind`` string to its class.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any, ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "API_VERSION",
    "DNS_LABEL",
    "Condition",
    "ConditionStatus",
    "DcosModel",
    "ObjectMeta",
    "OwnerReference",
    "PrinterColumn",
    "Resource",
    "Scope",
    "Status",
]

API_VERSION: Final = "dcos/v1"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUALIFIED_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


class DcosModel(BaseModel):
    """Base of every model: frozen, unknown fields refused, camelCase on the wire."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
        # Validators are built on first use, not at import: `dcosctl get`
        # lists stored (already validated) objects without building them.
        defer_build=True,
    )


def check_dns_label(value: str, what: str = "name") -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} must be a DNS label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


class Scope(enum.StrEnum):
    CLUSTER = "Cluster"
    DOMAIN = "Domain"


class OwnerReference(DcosModel):
    """Points at the object that owns this one; garbage collection follows it."""

    api_version: str = API_VERSION
    """The owner's apiVersion."""
    kind: str
    """The owner's kind."""
    name: str
    """The owner's name."""
    uid: str
    """The owner's uid, so a new object of the same name is not mistaken for the owner."""
    controller: bool = False
    """True on the one owner that manages this object."""
    block_owner_deletion: bool = False
    """True keeps the owner from being deleted before this object is."""


class ObjectMeta(DcosModel):
    """Identity and bookkeeping of an object. Users set name, domain, labels and
    annotations; the store sets the rest."""

    name: str
    """The object's name: a DNS label, unique per kind (and per domain for domain-scoped kinds)."""
    domain: str | None = None
    """The business domain a domain-scoped object belongs to; cluster-scoped kinds have none."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Key/value pairs that selectors (`-l`, host selectors) match."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Free-form key/value notes; tools keep their bookkeeping here."""
    uid: str | None = None
    """Set by the store on create; never reused."""
    resource_version: str | None = None
    """The etcd revision of the last spec write; an update that names one is a compare-and-swap."""
    generation: int | None = None
    """Grows by one each time the spec changes."""
    creation_timestamp: datetime | None = None
    """Set by the store on create."""
    deletion_timestamp: datetime | None = None
    """Set when deletion was asked for while finalizers remained."""
    finalizers: list[str] = Field(default_factory=list)
    """Controllers that must clean up before the object goes."""
    owner_references: list[OwnerReference] = Field(default_factory=list)
    """Objects this one belongs to; it is deleted when they are."""

    @field_validator("name")
    @classmethod
    def _name_is_dns_label(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("domain")
    @classmethod
    def _domain_is_dns_label(cls, value: str | None) -> str | None:
        return None if value is None else check_dns_label(value, "domain")

    @field_validator("labels")
    @classmethod
    def _labels_are_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not _QUALIFIED_KEY.match(key):
                raise ValueError(f"label key {key!r} is not a valid qualified name")
            if not _LABEL_VALUE.match(val):
                raise ValueError(f"label {key!r} value {val!r} is not a valid label value")
        return value


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(DcosModel):
    """One observation about the object, as Kubernetes conditions are."""

    type: str
    """What is observed, e.g. Ready, Progressing, Degraded."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str = ""
    """One CamelCase word for machines."""
    message: str = ""
    """One sentence for people."""
    last_transition_time: datetime | None = None
    """When status last changed."""


class Status(DcosModel):
    """What controllers observed. Kinds extend it with their own fields."""

    observed_generation: int | None = None
    """The spec generation the controller last acted on."""
    conditions: list[Condition] = Field(default_factory=list)
    """The latest observation of each type."""


class PrinterColumn(DcosModel):
    """A column of ``dcosctl get``'s table, like a CRD's additionalPrinterColumns."""

    name: str
    """The header, upper case (READY, INSTANCES)."""
    path: str
    """Dotted path into the wire form, e.g. ``spec.instances`` or ``status.readyInstances``."""
    wide: bool = False
    """Shown only with ``-o wide``."""


class Resource(DcosModel):
    """The envelope of every kind. Subclasses narrow ``kind``, ``spec`` and ``status``."""

    SCOPE: ClassVar[Scope] = Scope.CLUSTER
    PLURAL: ClassVar[str] = ""
    """Lower-case plural, accepted by the CLI (``dcosctl get apps``)."""
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()
    """Abbreviations accepted by the CLI (``dcosctl get ipp``)."""
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = ()
    """Columns between NAME and AGE in ``dcosctl get``."""

    api_version: Literal["dcos/v1"] = API_VERSION
    """Always dcos/v1."""
    kind: str
    """The kind of object."""
    metadata: ObjectMeta
    """Name, domain, labels and the store's bookkeeping."""
    spec: Any
    """What the user wants."""
    status: Any
    """What controllers observed."""

    @model_validator(mode="after")
    def _scope_matches_domain(self) -> Self:
        if self.SCOPE is Scope.DOMAIN and self.metadata.domain is None:
            raise ValueError(f"{self.kind} is domain-scoped: metadata.domain is required")
        if self.SCOPE is Scope.CLUSTER and self.metadata.domain is not None:
            raise ValueError(f"{self.kind} is cluster-scoped: metadata.domain must not be set")
        return self

    def to_wire(self, *, with_status: bool = True) -> dict[str, Any]:
        """The object as it is written to YAML, JSON and etcd."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not with_status:
            data.pop("status", None)
        return data
