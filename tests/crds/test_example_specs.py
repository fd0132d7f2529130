"""Every document under specs/ is a valid object, and the example data center hangs together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import crds.kinds
from crds.app import App
from crds.domain import Domain
from crds.host import Host, HostLifecycle
from crds.ippool import IPPool
from crds.meta import Resource
from crds.registry import parse_object
from crds.registrymirror import RegistryMirror
from crds.scalingpolicy import ScalingPolicy

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"


def _documents() -> list[Any]:
    params = []
    for path in sorted(SPECS_DIR.glob("**/*.yaml")):
        with path.open(encoding="utf-8") as stream:
            for index, doc in enumerate(yaml.safe_load_all(stream)):
                name = f"{path.relative_to(SPECS_DIR)}#{index}"
                params.append(pytest.param(doc, id=name))
    return params


DOCUMENTS = _documents()


def _all_objects() -> list[Resource]:
    return [parse_object(param.values[0]) for param in DOCUMENTS]


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_spec_document_validates(doc: Any) -> None:
    obj = parse_object(doc)
    assert parse_object(obj.to_wire()) == obj


def test_example_data_center_is_complete_and_consistent() -> None:
    objects = _all_objects()
    by_kind: dict[type[Resource], list[Resource]] = {}
    for obj in objects:
        by_kind.setdefault(type(obj), []).append(obj)
    domains = {d.metadata.name: d for d in by_kind[Domain] if isinstance(d, Domain)}
    hosts = [h for h in by_kind[Host] if isinstance(h, Host)]
    pools = {p.metadata.name: p for p in by_kind[IPPool] if isinstance(p, IPPool)}
    apps = [a for a in by_kind[App] if isinstance(a, App)]
    assert {"checkout", "search"} <= set(domains)
    assert all(d.spec.timezone == "Asia/Shanghai" for d in domains.values())
    assert len(hosts) >= 6
    assert {h.spec.attributes.rack for h in hosts} == {"r1", "r2", "r3"}
    assert all(h.spec.domain is None or h.spec.domain in domains for h in hosts)
    assert len(apps) >= 4
    for app in apps:
        assert app.metadata.domain in domains
        assert app.spec.ip_pool is None or app.spec.ip_pool in pools
        assert app.spec.constraints and app.spec.health_checks
    for pool in pools.values():
        assert pool.spec.block_size == 28
        assert sum(pool.spec.host_selector.matches(h.metadata.labels) for h in hosts) >= 1
    app_keys = {(a.metadata.domain, a.metadata.name) for a in apps}
    for policy in by_kind[ScalingPolicy]:
        assert isinstance(policy, ScalingPolicy)
        assert (policy.metadata.domain, policy.spec.target_ref.name) in app_keys
    for mirror in by_kind[RegistryMirror]:
        assert isinstance(mirror, RegistryMirror)
        eligible = [
            h
            for h in hosts
            if h.spec.lifecycle is HostLifecycle.ACTIVE
            and mirror.spec.host_selector.matches(h.metadata.labels)
        ]
        assert len(eligible) >= mirror.spec.replicas, "replicas need distinct active hosts"


DOCS_DIR = SPECS_DIR.parent / "docs" / "kinds"


def _doc_examples() -> list[Any]:
    params = []
    for path in sorted(DOCS_DIR.glob("*.md")):
        blocks = path.read_text(encoding="utf-8").split("```yaml\n")[1:]
        for index, block in enumerate(blocks):
            params.append(pytest.param(block.split("```")[0], id=f"{path.name}#{index}"))
    return params


@pytest.mark.parametrize("text", _doc_examples())
def test_kind_docs_examples_are_documents_of_specs(text: str) -> None:
    example = yaml.safe_load(text)
    parse_object(example)
    assert example in [param.values[0] for param in DOCUMENTS]


def test_every_kind_has_a_doc_page_with_an_example() -> None:
    names = {str(param.id).split("#")[0] for param in _doc_examples()}
    assert names == {f"{cls.__name__.lower()}.md" for cls in crds.kinds.ALL_KINDS}
