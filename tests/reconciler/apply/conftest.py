"""Kinds used only by the apply tests, registered while these tests run.

``Widget`` is domain-scoped and ``Gadget`` cluster-scoped; between them they
have nested models, bounded numbers, maps and lists, which is what the merge
and the error messages care about.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Self

import pytest
from pydantic import Field, model_validator

from crds.meta import DcosModel, Resource, Scope, Status
from crds.registry import KINDS


class UpgradeStrategy(DcosModel):
    minimum_health_capacity: float = Field(default=1.0, ge=0, le=1)
    maximum_over_capacity: float = Field(default=1.0, ge=0, le=1)


class Port(DcosModel):
    name: str
    number: int = Field(ge=1, le=65535)


class WidgetSpec(DcosModel):
    image: str
    instances: int = Field(default=1, ge=0)
    cpus: float = Field(default=0.1, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    ports: list[Port] = Field(default_factory=list)
    command: str | None = None
    upgrade_strategy: UpgradeStrategy = Field(default_factory=UpgradeStrategy)


class WidgetStatus(Status):
    ready_instances: int = 0


class Widget(Resource):
    SCOPE = Scope.DOMAIN
    PLURAL = "widgets"
    kind: Literal["Widget"] = "Widget"
    spec: WidgetSpec
    status: WidgetStatus = Field(default_factory=WidgetStatus)


class GadgetSpec(DcosModel):
    size: int = Field(ge=0)
    color: str | None = None
    tags: list[str] = Field(default_factory=list)
    paused: bool = False

    @model_validator(mode="after")
    def _paused_is_empty(self) -> Self:
        if self.paused and self.size:
            raise ValueError("size must be 0 while paused")
        return self


class Gadget(Resource):
    SCOPE = Scope.CLUSTER
    PLURAL = "gadgets"
    kind: Literal["Gadget"] = "Gadget"
    spec: GadgetSpec
    status: Status = Field(default_factory=Status)


TEST_KINDS: dict[str, type[Resource]] = {"Widget": Widget, "Gadget": Gadget}


@pytest.fixture(autouse=True, scope="module")
def _test_kinds() -> Iterator[None]:
    """Register the test kinds for this directory's tests only, then restore the registry."""
    saved = {kind: KINDS[kind] for kind in TEST_KINDS if kind in KINDS}
    KINDS.update(TEST_KINDS)
    yield
    for kind in TEST_KINDS:
        KINDS.pop(kind, None)
    KINDS.update(saved)
