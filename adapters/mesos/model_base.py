"""The JSON mapping Mesos uses on the v1 HTTP APIs, as a pydantic base.

Mesos does not speak proto3 JSON. Its mapping (stout's protobuf <-> JSON) is:
keys are the proto field names in snake_case; enums are their name strings;
``bytes`` are base64 strings; int64 is a JSON number, and a numeric string is
accepted on input; a double may be the string ``"Infinity"``; unset optionals
are omitted, never ``null``; unknown keys are ignored.

:class:`WireModel` turns that into a base class:

* ``extra="allow"``: unknown keys are kept on the instance and written back
  when the model is serialised, so a message from a newer Mesos survives a
  parse/serialise round trip unchanged (the master emulator relays what it was
  given; the client never loses a field it does not know yet).
* Optional fields default to ``None`` and are dropped on output. Repeated
  fields default to an empty list (or dict, for proto maps) so callers can
  iterate without checks; an empty list is written only when it was given
  explicitly (parsed from input or passed to the constructor), so a message
  round-trips exactly and a fresh one does not grow ``[]`` noise.
* :data:`Double` writes infinities as ``"Infinity"``/``"-Infinity"`` and
  accepts them back; plain ``int`` fields accept numeric strings.
* :data:`Base64` marks ``bytes`` fields. They stay base64 text on the model
  (a status ``uuid`` is echoed back verbatim in ACKNOWLEDGE);
  :func:`encode_bytes` / :func:`decode_bytes` convert at the edges.
* :class:`ProtoEnum` is a ``StrEnum`` that accepts values it does not know
  (a new ``REASON_*`` from a newer master) as pseudo-members instead of
  failing the whole event; :meth:`ProtoEnum.is_known` tells them apart.

Unions (``{"type": "ACCEPT", "accept": {...}}``) are built on
:class:`TypedUnion`; the concrete messages live in ``model_common``,
``model_task``, ``model_scheduler`` and ``model_operator``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

__all__ = [
    "Base64",
    "Double",
    "ProtoEnum",
    "TypedUnion",
    "WireModel",
    "decode_bytes",
    "dumps",
    "encode_bytes",
    "from_json",
    "to_json",
]


def _serialise_double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


Double = Annotated[float, PlainSerializer(_serialise_double, when_used="json")]
"""A proto ``double``: accepts numbers and ``"Infinity"``, writes infinities as strings."""

Base64 = str
"""A proto ``bytes`` field: base64 text on the wire and on the model."""


def encode_bytes(raw: bytes) -> str:
    """Encode raw bytes for a ``bytes`` field (standard base64, padded)."""
    return base64.b64encode(raw).decode("ascii")


def decode_bytes(text: str) -> bytes:
    """Decode a ``bytes`` field; raises ``ValueError`` on invalid base64."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64 in bytes field: {exc}") from exc


class ProtoEnum(StrEnum):
    """A proto enum as its name strings, tolerant of names it does not know."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value
        pseudo._value_ = value
        return pseudo

    def is_known(self) -> bool:
        """False for a value this enum was given but does not declare."""
        return self._name_ in type(self).__members__


class WireModel(BaseModel):
    """Base of every Mesos message (see the module docstring for the mapping)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # Aliases of list/dict fields, computed once per class.
    _container_aliases: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        pairs = []
        for name, info in cls.model_fields.items():
            if info.default_factory in (list, dict):
                pairs.append((name, info.alias or name))
        cls._container_aliases = tuple(pairs)

    @model_serializer(mode="wrap")
    def _omit_unset_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name, alias in self._container_aliases:
                if name not in self.model_fields_set and not data.get(alias, True):
                    del data[alias]
        return data


class TypedUnion(WireModel):
    """A ``{"type": "X", "x": {...}}`` envelope.

    The body field is the lower-cased type name. Subclasses declare ``type``
    and one optional field per body; types whose body Mesos does not require
    go in ``BODYLESS``. Validation fails, with Mesos' own wording, when a
    required body is missing.
    """

    BODYLESS: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _check_body(self) -> Self:
        kind = getattr(self, "type", None)
        if not isinstance(kind, ProtoEnum) or not kind.is_known() or kind in self.BODYLESS:
            return self
        name = kind.value.lower()
        if name in type(self).model_fields and getattr(self, name) is None:
            raise ValueError(f"Expecting '{name}' to be present")
        return self

    @classmethod
    def wrap(cls, type: ProtoEnum | str, body: BaseModel | None = None, **fields: Any) -> Self:
        """Build the envelope: ``SchedulerCall.wrap("DECLINE", body, framework_id=fid)``."""
        values: dict[str, Any] = dict(fields, type=type)
        if body is not None:
            values[str(type).lower()] = body
        return cls.model_validate(values)

    def body(self) -> Any:
        """The body named after ``type``, or ``None`` (HEARTBEAT, TEARDOWN...)."""
        kind = getattr(self, "type", None)
        if kind is None:
            return None
        name = str(kind).lower()
        if name in type(self).model_fields:
            return getattr(self, name)
        return (self.model_extra or {}).get(name)


M = TypeVar("M", bound=BaseModel)


def to_json(model: BaseModel) -> dict[str, Any]:
    """The wire form as a dict: proto names, no unset fields, no nulls."""
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert isinstance(data, dict)
    return data


def dumps(model: BaseModel) -> bytes:
    """The wire form as compact UTF-8 JSON bytes (an HTTP body or a RecordIO record)."""
    return model.model_dump_json(by_alias=True, exclude_none=True).encode()


def from_json(cls: type[M], data: bytes | str | Mapping[str, Any]) -> M:
    """Parse a message from JSON bytes/text or an already-decoded mapping."""
    if isinstance(data, bytes | str):
        data = json.loads(data)
    return cls.model_validate(data)
