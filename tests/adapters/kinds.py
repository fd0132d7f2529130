"""Two tiny kinds for the store's tests, independent of the real kinds.

``Widget`` is domain-scoped, ``Gadget`` cluster-scoped. They are registered
only while a test runs (:func:`registered`), so they never show up in the
real registry's listings, schemas or ``explain``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from crds.meta import DcosModel, ObjectMeta, Resource, Scope, Status
from crds.registry import KINDS, register


class WidgetSpec(DcosModel):
    size: int = 1
    color: str = "red"


class WidgetStatus(Status):
    ready: int = 0


class Widget(Resource):
    SCOPE = Scope.DOMAIN
    PLURAL = "widgets"

    kind: Literal["Widget"] = "Widget"
    spec: WidgetSpec = Field(default_factory=WidgetSpec)
    status: WidgetStatus = Field(default_factory=WidgetStatus)


class GadgetSpec(DcosModel):
    mode: str = "auto"


class Gadget(Resource):
    SCOPE = Scope.CLUSTER
    PLURAL = "gadgets"

    kind: Literal["Gadget"] = "Gadget"
    spec: GadgetSpec = Field(default_factory=GadgetSpec)
    status: Status = Field(default_factory=Status)


@contextlib.contextmanager
def registered() -> Iterator[None]:
    """Widget and Gadget are in the registry inside this block only."""
    before = dict(KINDS)
    register(Widget)
    register(Gadget)
    try:
        yield
    finally:
        KINDS.clear()
        KINDS.update(before)


def widget(
    name: str,
    domain: str = "shop",
    *,
    size: int = 1,
    color: str = "red",
    labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
) -> Widget:
    return Widget(
        metadata=ObjectMeta(
            name=name, domain=domain, labels=labels or {}, finalizers=finalizers or []
        ),
        spec=WidgetSpec(size=size, color=color),
    )


def gadget(name: str, *, mode: str = "auto", labels: dict[str, str] | None = None) -> Gadget:
    return Gadget(metadata=ObjectMeta(name=name, labels=labels or {}), spec=GadgetSpec(mode=mode))
