"""Finalizers: add or remove one on an object, as the controllers that own deletions do."""

from __future__ import annotations

from typing import TypeVar

from adapters.protocols import Store
from crds.meta import Resource

__all__ = ["set_finalizer"]

R = TypeVar("R", bound=Resource)


async def set_finalizer(store: Store, obj: R, finalizer: str, *, present: bool) -> R:
    """Write ``obj`` with ``finalizer`` added (``present``) or removed; the object as
    written (``obj`` itself when the store returns another kind)."""
    others = [f for f in obj.metadata.finalizers if f != finalizer]
    finalizers = [*others, finalizer] if present else others
    meta = obj.metadata.model_copy(update={"finalizers": finalizers})
    written = await store.update(obj.model_copy(update={"metadata": meta}))
    return written if isinstance(written, type(obj)) else obj
