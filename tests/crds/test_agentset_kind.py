"""AgentSet: container template defaults and the update strategy."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crds.agentset import AgentNetwork, AgentSetSpec, AgentUpdateStrategy

TEMPLATE: dict[str, Any] = {"image": "registry.example.com/platform/logstash:2.4.1"}


def test_defaults_run_on_every_host_in_host_network() -> None:
    spec = AgentSetSpec.model_validate({"template": TEMPLATE})
    assert spec.template.network is AgentNetwork.HOST
    assert spec.template.privileged is False
    assert (spec.template.cpus, spec.template.mem) == (0.5, 256)
    assert spec.host_selector.matches({})
    assert spec.update_strategy.max_unavailable == 1


@pytest.mark.parametrize(
    ("value", "hosts", "expected"),
    [
        pytest.param(1, 100, 1, id="count"),
        pytest.param(5, 3, 5, id="count-above-hosts"),
        pytest.param("25%", 10, 2, id="percent-rounds-down"),
        pytest.param("10%", 5, 1, id="percent-at-least-one"),
        pytest.param("100%", 7, 7, id="all"),
    ],
)
def test_max_unavailable_resolves_counts_and_percentages(
    value: int | str, hosts: int, expected: int
) -> None:
    assert AgentUpdateStrategy(max_unavailable=value).resolve(hosts) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({}, "template", id="template-missing"),
        pytest.param({"template": {}}, "image", id="image-missing"),
        pytest.param({"template": {**TEMPLATE, "network": "overlay"}}, "host", id="network"),
        pytest.param({"template": {**TEMPLATE, "cpus": 0}}, "greater than 0", id="cpus-zero"),
        pytest.param(
            {"template": {**TEMPLATE, "mem": "1"}}, "greater than or equal to 4", id="mem"
        ),
        pytest.param(
            {"template": TEMPLATE, "updateStrategy": {"maxUnavailable": 0}},
            "maxUnavailable 0 must be at least 1",
            id="max-unavailable-zero",
        ),
        pytest.param(
            {"template": TEMPLATE, "updateStrategy": {"maxUnavailable": "0%"}},
            "percentage 1%-100%",
            id="percent-zero",
        ),
        pytest.param(
            {"template": TEMPLATE, "updateStrategy": {"maxUnavailable": "150%"}},
            "percentage 1%-100%",
            id="percent-too-high",
        ),
        pytest.param(
            {"template": TEMPLATE, "updateStrategy": {"maxUnavailable": "some"}},
            "percentage 1%-100%",
            id="word",
        ),
    ],
)
def test_agentset_spec_refuses(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AgentSetSpec.model_validate(spec)
