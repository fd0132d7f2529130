"""Which hosts wait for their agents: the AgentSets that select a host, less those whose
status says the agent there is ready."""

from __future__ import annotations

from crds.agentset import AgentHostStatus, AgentSet, AgentSetSpec, AgentSetStatus, ContainerTemplate
from crds.common import LabelSelector
from crds.host import Host, HostLifecycle, HostResources, HostSpec
from crds.meta import ObjectMeta
from reconciler.controllers.app import agents_waiting


def host(name: str, lifecycle: HostLifecycle = HostLifecycle.ACTIVE, **labels: str) -> Host:
    spec = HostSpec(
        lifecycle=lifecycle, address="127.0.0.1", resources=HostResources(cpus=4, mem=4096)
    )
    return Host(metadata=ObjectMeta(name=name, labels=labels), spec=spec)


def agentset(name: str, ready: list[str], **selector: str) -> AgentSet:
    rows = [AgentHostStatus(host=h, app=f"{name}-{h}", template="t", ready=True) for h in ready]
    return AgentSet(
        metadata=ObjectMeta(name=name),
        spec=AgentSetSpec(
            template=ContainerTemplate(image="proxy:1"),
            host_selector=LabelSelector(match_labels=selector),
        ),
        status=AgentSetStatus(hosts=rows),
    )


def test_a_host_waits_for_every_agentset_selecting_it_until_its_agent_is_ready() -> None:
    hosts = [
        host("h1", gpu="yes"),
        host("h2"),
        host("h3", gpu="yes"),
        host("h4", HostLifecycle.DRAINING),
    ]
    sets = [agentset("proxy", ready=["h1", "h2"]), agentset("gpu-mon", ready=[], gpu="yes")]
    assert agents_waiting(sets, hosts) == {
        "h1": ("gpu-mon",),
        "h3": ("gpu-mon", "proxy"),  # a new host: no status row yet
    }
    assert agents_waiting([], hosts) == {}  # no AgentSet: every host is open
