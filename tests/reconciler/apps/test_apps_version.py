"""Spec versions (what is a rollout, what a scale) and the revision history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crds.app import AppSpec
from reconciler.apps.version import (
    RolloutState,
    UnknownRevision,
    record_revision,
    spec_snapshot,
    spec_version,
    undo,
    with_operational_fields,
)

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "image": "registry.local/shop/cart:1.0",
    "instances": 3,
    "cpus": 0.5,
    "mem": 256,
    "env": {"A": "1", "B": "2", "C": "3"},
    "labels": {"team": "cart", "tier": "web"},
    "ports": [{"containerPort": 8080}],
    "constraints": [["rack", "GROUP_BY"], ["hostname", "UNIQUE"]],
}


def version_of(**changes: Any) -> str:
    return spec_version(AppSpec.model_validate(BASE | changes))


def test_version_is_stable_across_mapping_order() -> None:
    shuffled = {key: BASE[key] for key in reversed(list(BASE))}
    shuffled["env"] = {"C": "3", "A": "1", "B": "2"}
    shuffled["labels"] = {"tier": "web", "team": "cart"}
    assert spec_version(AppSpec.model_validate(shuffled)) == version_of()


def test_version_ignores_spelled_out_defaults() -> None:
    assert version_of(disk=0, volumes=[], command=None) == version_of()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"instances": 30}, id="instances-is-a-scale"),
        pytest.param({"instances": 0}, id="scale-to-zero"),
        pytest.param(
            {"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}},
            id="upgrade-strategy",
        ),
        pytest.param({"backoff": {"backoffSeconds": 5}}, id="backoff"),
        pytest.param({"progressDeadlineSeconds": 30}, id="progress-deadline"),
        pytest.param(
            {"upgradeStrategy": {"autoRollback": True}}, id="upgrade-strategy-auto-rollback"
        ),
        pytest.param(
            {"constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY"]]},
            id="constraint-order",
        ),
    ],
)
def test_changes_that_keep_the_version(changes: dict[str, Any]) -> None:
    assert version_of(**changes) == version_of()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"image": "registry.local/shop/cart:1.1"}, id="image"),
        pytest.param({"command": ["/bin/cart", "--fast"]}, id="command"),
        pytest.param({"args": ["--fast"]}, id="args"),
        pytest.param({"env": {"A": "1", "B": "2", "C": "4"}}, id="env"),
        pytest.param({"cpus": 1.5}, id="cpus"),
        pytest.param({"mem": "1Gi"}, id="mem"),
        pytest.param({"ports": [{"containerPort": 9090}]}, id="ports"),
        pytest.param({"ipPool": "vlan20"}, id="ip-pool"),
        pytest.param({"labels": {"team": "cart"}}, id="labels"),
        pytest.param({"constraints": [["rack", "CLUSTER", "r2"]]}, id="constraints"),
        pytest.param(
            {"volumes": [{"hostPath": "/data/logs", "containerPath": "/logs"}]}, id="volumes"
        ),
        pytest.param({"healthChecks": [{"protocol": "TCP"}]}, id="health-checks"),
    ],
)
def test_changes_that_make_a_new_version(changes: dict[str, Any]) -> None:
    assert version_of(**changes) != version_of()


def test_with_operational_fields_takes_scale_from_current_and_keeps_the_version() -> None:
    old = AppSpec.model_validate(BASE)
    current = AppSpec.model_validate(
        BASE
        | {"image": "registry.local/shop/cart:2.0", "instances": 9, "backoff": {"backoffFactor": 2}}
    )
    rolled = with_operational_fields(spec_snapshot(old), current)
    assert (rolled.image, rolled.instances, rolled.backoff.backoff_factor) == (old.image, 9, 2)
    assert spec_version(rolled) == spec_version(old)


def _history(*images: str, limit: int = 10) -> RolloutState:
    state = RolloutState()
    for i, image in enumerate(images):
        spec = AppSpec.model_validate(BASE | {"image": f"registry.local/shop/{image}"})
        state = record_revision(
            state, spec=spec, version=spec_version(spec), now=T0 + timedelta(minutes=i), limit=limit
        )
    return state


def test_revisions_are_numbered_and_a_returning_version_moves_to_a_new_number() -> None:
    state = _history("cart:1", "cart:2", "cart:1")
    assert [(rev.revision, rev.spec["image"][-6:]) for rev in state.history] == [
        (2, "cart:2"),
        (3, "cart:1"),
    ]
    assert state.revision == 3


def test_history_is_trimmed_but_keeps_the_previous_good_version() -> None:
    state = _history("cart:1", limit=2)
    first = state.target_version
    state = state.model_copy(update={"previous_version": first})
    for image in ("cart:2", "cart:3", "cart:4"):
        spec = AppSpec.model_validate(BASE | {"image": f"registry.local/shop/{image}"})
        state = record_revision(state, spec=spec, version=spec_version(spec), now=T0, limit=2)
    assert len(state.history) == 2
    assert {rev.version for rev in state.history} == {first, state.target_version}


def test_undo_returns_the_previous_or_the_named_revision() -> None:
    state = _history("cart:1", "cart:2", "cart:3")
    assert undo(state)["image"].endswith("cart:2")
    assert undo(state, 1)["image"].endswith("cart:1")
    current = AppSpec.model_validate(BASE | {"instances": 12})
    assert undo(state, 1, current=current)["instances"] == 12


@pytest.mark.parametrize(
    ("images", "revision"),
    [
        pytest.param(("cart:1",), None, id="nothing-before"),
        pytest.param(("cart:1",), 7, id="unknown"),
    ],
)
def test_undo_refuses_missing_revisions(images: tuple[str, ...], revision: int | None) -> None:
    with pytest.raises(UnknownRevision):
        undo(_history(*images), revision)


def test_rollout_state_json_round_trip() -> None:
    state = _history("cart:1", "cart:2")
    assert RolloutState.from_json(state.to_json()) == state
