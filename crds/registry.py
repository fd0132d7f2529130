"""Maps kind names to their classes, and raw wire dicts to typed objects.

The CLI accepts a kind by its name (``App``), its plural (``apps``) or a short
name (``app``), case-insensitively; :func:`resolve_kind` does that lookup.
:func:`parse_object` validates one wire dict (apiVersion, kind, then the
kind's model) and is what the store and the manifest loader both call.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from crds.errors import SpecError
from crds.meta import API_VERSION, Resource

__all__ = ["KINDS", "parse_object", "register", "resolve_kind"]

R = TypeVar("R", bound=type[Resource])

KINDS: dict[str, type[Resource]] = {}
"""kind name -> class, in the order kinds were registered."""


def register(cls: R) -> R:
    """Class decorator adding a kind to :data:`KINDS`."""
    kind = cast(type[Resource], cls).model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{cls.__name__} must give `kind` a string default")
    KINDS[kind] = cls
    return cls


def resolve_kind(name: str) -> type[Resource]:
    """The class for a kind, plural or short name (any case); SpecError if unknown."""
    wanted = name.lower()
    for kind, cls in KINDS.items():
        if wanted in (kind.lower(), cls.PLURAL, *cls.SHORT_NAMES):
            return cls
    known = ", ".join(KINDS)
    raise SpecError(f"unknown kind {name!r} (known kinds: {known})", field="kind")


def parse_object(data: Any) -> Resource:
    """Validate one wire dict into its kind's model.

    Raises SpecError for a wrong apiVersion or an unknown kind, and lets
    pydantic's ValidationError through for field errors so the caller can
    name the field paths.
    """
    if not isinstance(data, dict):
        raise SpecError(f"expected a mapping, got {type(data).__name__}")
    api_version = data.get("apiVersion")
    if api_version != API_VERSION:
        raise SpecError(
            f"unknown apiVersion {api_version!r} (expected {API_VERSION!r})", field="apiVersion"
        )
    kind = data.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SpecError(f"unknown kind {kind!r} (known kinds: {', '.join(KINDS)})", field="kind")
    return cls.model_validate(data)
