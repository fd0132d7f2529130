"""The example desired state in ``specs/`` with the real kinds, end to end on the store."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import crds.kinds  # noqa: F401  (registers the real kinds)
from adapters.protocols import Store
from crds.errors import SpecError
from reconciler.apply import Action, apply_manifests, diff_manifests, load_manifests

SPECS = Path(__file__).resolve().parents[3] / "specs"


async def test_specs_apply_then_are_unchanged_and_show_no_diff(store: Store) -> None:
    manifests = load_manifests([str(SPECS)], recursive=True)
    assert manifests

    created = await apply_manifests(store, manifests, applyset="specs")
    assert {r.action for r in created} == {Action.CREATED}

    again = await apply_manifests(store, manifests, applyset="specs", prune=True)
    assert {r.action for r in again} == {Action.UNCHANGED}
    assert await diff_manifests(store, manifests) == ""


def test_app_field_errors_use_wire_paths() -> None:
    text = """\
apiVersion: dcos/v1
kind: App
metadata: {name: web, domain: checkout}
spec:
  image: web:1
  upgradeStrategy: {minimumHealthCapacity: 2}
"""
    with pytest.raises(SpecError) as err:
        load_manifests(["-"], stdin=io.StringIO(text))
    assert str(err.value) == (
        "<stdin>: document 1: spec.upgradeStrategy.minimumHealthCapacity: "
        "Input should be less than or equal to 1"
    )
