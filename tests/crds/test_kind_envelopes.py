"""What every kind shares: registration, names, scope, printer columns, wire round-trip."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

import crds.kinds
from crds.explain import explain
from crds.meta import Resource, Scope, Status
from crds.registry import KINDS, parse_object, resolve_kind

SPECS: dict[str, dict[str, Any]] = {
    "Domain": {"timezone": "Asia/Shanghai"},
    "Host": {"address": "10.10.1.11", "resources": {"cpus": 8, "mem": 16384}},
    "IPPool": {"vlan": 110, "cidr": "10.110.0.0/24", "gateway": "10.110.0.1"},
    "App": {"image": "busybox:1.36"},
    "AgentSet": {"template": {"image": "busybox:1.36"}},
    "ScalingPolicy": {
        "targetRef": {"name": "cart"},
        "metric": {"metric": "cpu", "targetUtilization": 0.5, "minInstances": 1, "maxInstances": 2},
    },
    "RegistryMirror": {"upstream": "https://registry.example.com", "repositories": ["*"]},
}
SCOPES = {
    "Domain": Scope.CLUSTER,
    "Host": Scope.CLUSTER,
    "IPPool": Scope.CLUSTER,
    "AgentSet": Scope.CLUSTER,
    "RegistryMirror": Scope.CLUSTER,
    "App": Scope.DOMAIN,
    "ScalingPolicy": Scope.DOMAIN,
}


def _wire(kind: str, domain: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "x1"}
    if domain is not None:
        metadata["domain"] = domain
    return {"apiVersion": "dcos/v1", "kind": kind, "metadata": metadata, "spec": SPECS[kind]}


def test_importing_kinds_registers_all_seven() -> None:
    assert set(KINDS) == set(SCOPES)
    assert {cls.model_fields["kind"].default for cls in crds.kinds.ALL_KINDS} == set(SCOPES)


@pytest.mark.parametrize("kind", sorted(SCOPES))
def test_scope_is_as_designed(kind: str) -> None:
    cls = KINDS[kind]
    assert cls.SCOPE is SCOPES[kind]
    assert issubclass(cls.model_fields["status"].annotation, Status)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(SCOPES))
def test_scope_rules_on_metadata_domain(kind: str) -> None:
    if SCOPES[kind] is Scope.DOMAIN:
        parse_object(_wire(kind, "checkout"))
        with pytest.raises(ValidationError, match=f"{kind} is domain-scoped"):
            parse_object(_wire(kind, None))
    else:
        parse_object(_wire(kind, None))
        with pytest.raises(ValidationError, match=f"{kind} is cluster-scoped"):
            parse_object(_wire(kind, "checkout"))


def test_names_resolve_and_never_collide() -> None:
    seen: dict[str, str] = {}
    for kind, cls in KINDS.items():
        for name in (kind.lower(), cls.PLURAL, *cls.SHORT_NAMES):
            assert name == name.lower()
            assert seen.setdefault(name, kind) == kind, f"{name} names {seen[name]} and {kind}"
            assert resolve_kind(name.upper()) is cls
        assert cls.PLURAL.endswith("s")


@pytest.mark.parametrize("kind", sorted(SCOPES))
def test_printer_columns_name_real_fields(kind: str) -> None:
    cls = KINDS[kind]
    assert any(not column.wide for column in cls.PRINTER_COLUMNS)
    for column in cls.PRINTER_COLUMNS:
        assert column.name == column.name.upper()
        assert column.path.split(".")[0] in ("spec", "status")
        explain(f"{kind}.{column.path}")  # raises when the path names no field


@pytest.mark.parametrize("kind", sorted(SCOPES))
def test_status_defaults_to_empty_observation(kind: str) -> None:
    obj = parse_object(_wire(kind, "checkout" if SCOPES[kind] is Scope.DOMAIN else None))
    assert obj.status.observed_generation is None
    assert obj.status.conditions == []


def _keys(value: Any, path: str = "") -> list[str]:
    """Every key under spec/status that is a model field (user maps skipped)."""
    if isinstance(value, list):
        return [key for item in value for key in _keys(item, path)]
    if not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        if key in ("labels", "annotations", "env", "sysctls", "custom", "matchLabels"):
            continue
        found.append(key)
        found += _keys(item, f"{path}.{key}")
    return found


@pytest.mark.parametrize("kind", sorted(SCOPES))
def test_wire_model_wire_round_trip_is_stable_and_camel_case(kind: str) -> None:
    obj = parse_object(_wire(kind, "checkout" if SCOPES[kind] is Scope.DOMAIN else None))
    wire = obj.to_wire()
    again = parse_object(wire)
    assert again == obj
    assert again.to_wire() == wire
    assert [key for key in _keys(wire) if "_" in key] == []


def test_fully_specified_wire_round_trips_exactly() -> None:
    wire: dict[str, Any] = {
        "apiVersion": "dcos/v1",
        "kind": "IPPool",
        "metadata": {
            "name": "checkout-v110",
            "labels": {"vlan": "110"},
            "annotations": {},
            "finalizers": [],
            "ownerReferences": [],
        },
        "spec": {
            "vlan": 110,
            "cidr": "10.110.0.0/22",
            "gateway": "10.110.0.1",
            "blockSize": 28,
            "hostSelector": {
                "matchLabels": {"vlan": "110"},
                "matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1"]}],
            },
            "reserved": ["10.110.0.2-10.110.0.15"],
        },
        "status": {"observedGeneration": 3, "conditions": [], "allocatedBlocks": 2},
    }
    assert parse_object(wire).to_wire() == wire
    assert "status" not in parse_object(wire).to_wire(with_status=False)


def test_python_names_are_accepted_too() -> None:
    obj = KINDS["IPPool"].model_validate(
        {
            "api_version": "dcos/v1",
            "metadata": {"name": "p"},
            "spec": {"vlan": 1, "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "block_size": 26},
        }
    )
    assert obj.to_wire()["spec"]["blockSize"] == 26


def test_kind_literal_refuses_another_kind() -> None:
    with pytest.raises(ValidationError, match="'App'"):
        KINDS["App"].model_validate({**_wire("App", "checkout"), "kind": "Apps"})


def test_every_kind_is_a_resource() -> None:
    assert all(issubclass(cls, Resource) for cls in KINDS.values())
