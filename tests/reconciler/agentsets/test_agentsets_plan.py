"""The AgentSet plan, a pure function: hosts x agentset x owned apps -> create, update, delete."""

from __future__ import annotations

from crds.agentset import AgentSet, AgentSetSpec, AgentUpdateStrategy, ContainerTemplate
from crds.app import App, AppStatus
from crds.common import LabelSelector
from crds.host import Host, HostLifecycle, HostResources, HostSpec, HostStatus
from crds.meta import Condition, ConditionStatus, ObjectMeta
from reconciler.agentsets import (
    HOST_LABEL,
    TEMPLATE_LABEL,
    agent_app_name,
    agent_spec,
    plan,
    template_hash,
)
from reconciler.system import SYSTEM_DOMAIN


def agentset(image: str = "proxy:1", max_unavailable: int | str = 1, **selector: str) -> AgentSet:
    spec = AgentSetSpec(
        template=ContainerTemplate(image=image),
        host_selector=LabelSelector(match_labels=selector),
        update_strategy=AgentUpdateStrategy(max_unavailable=max_unavailable),
    )
    return AgentSet(metadata=ObjectMeta(name="proxy", uid="u1"), spec=spec)


def host(
    name: str,
    *,
    lifecycle: HostLifecycle = HostLifecycle.ACTIVE,
    onboarded: ConditionStatus | None = ConditionStatus.TRUE,
    labels: dict[str, str] | None = None,
) -> Host:
    conditions = [] if onboarded is None else [Condition(type="Onboarded", status=onboarded)]
    return Host(
        metadata=ObjectMeta(name=name, labels=labels or {}),
        spec=HostSpec(
            lifecycle=lifecycle, address="127.0.0.1", resources=HostResources(cpus=4, mem=4096)
        ),
        status=HostStatus(conditions=conditions),
    )


def agent(owner: AgentSet, host_name: str, *, template: str, ready: bool = True) -> App:
    name = agent_app_name(owner.metadata.name, host_name)
    return App(
        metadata=ObjectMeta(
            name=name,
            domain=SYSTEM_DOMAIN,
            generation=1,
            labels={HOST_LABEL: host_name, TEMPLATE_LABEL: template},
        ),
        spec=agent_spec(owner, host_name),
        status=AppStatus(observed_generation=1, ready_instances=1 if ready else 0),
    )


def test_every_onboarded_active_matching_host_gets_an_agent() -> None:
    s = agentset(role="app")
    hosts = [
        host("h1", labels={"role": "app"}),
        host("h2", labels={"role": "db"}),
        host("h3", labels={"role": "app"}, lifecycle=HostLifecycle.DRAINING),
        host("h4", labels={"role": "app"}, onboarded=ConditionStatus.FALSE),
        host("h5", labels={"role": "app"}),
    ]
    p = plan(s, hosts, [])
    assert p.create == ["h1", "h5"]
    assert (p.update, p.delete, p.desired, p.ready, p.updated) == ([], [], 2, 0, 2)


def test_agent_spec_pins_one_instance_to_its_host() -> None:
    spec = agent_spec(agentset(), "h1")
    assert spec.instances == 1
    assert [(c.field, c.operator.value, c.value) for c in spec.constraints] == [
        ("hostname", "IS", "h1")
    ]
    assert spec.upgrade_strategy.minimum_health_capacity == 0
    assert spec.labels["dcos/network"] == "host"


def test_agents_leave_hosts_that_leave() -> None:
    s = agentset(role="app")
    t = template_hash(s)
    hosts = [
        host("h1", labels={"role": "db"}),
        host("h2", labels={"role": "app"}, lifecycle=HostLifecycle.DRAINING),
        host("h3", labels={"role": "app"}, lifecycle=HostLifecycle.DECOMMISSIONED),
        host("h4", labels={"role": "app"}, onboarded=ConditionStatus.UNKNOWN),
    ]
    apps = [agent(s, n, template=t) for n in ("h1", "h2", "h3", "h4", "gone")]
    p = plan(s, hosts, apps)
    assert p.delete == ["proxy-gone", "proxy-h1", "proxy-h2", "proxy-h3"]
    assert p.create == [] and p.desired == 1  # h4 keeps its agent while Mesos is unknown


def test_rolling_update_respects_max_unavailable() -> None:
    old = agentset("proxy:1")
    new = agentset("proxy:2", max_unavailable=2)
    hosts = [host(f"h{i}") for i in range(1, 7)]
    apps = [agent(old, f"h{i}", template=template_hash(old)) for i in range(1, 7)]
    p = plan(new, hosts, apps)
    assert p.update == ["h1", "h2"] and p.waiting == ["h3", "h4", "h5", "h6"]
    assert p.create == [] and p.delete == [] and p.rolling


def test_unavailable_agents_use_up_the_budget_and_are_updated_first() -> None:
    old, new = agentset("proxy:1"), agentset("proxy:2", max_unavailable=2)
    t_old, t_new = template_hash(old), template_hash(new)
    hosts = [host(f"h{i}") for i in range(1, 6)]
    apps = [
        agent(new, "h1", template=t_new, ready=False),  # updating
        agent(old, "h2", template=t_old),
        agent(old, "h3", template=t_old, ready=False),  # down anyway
        agent(old, "h4", template=t_old),
        agent(old, "h5", template=t_old),
    ]
    p = plan(new, hosts, apps)
    assert p.unavailable == 2
    assert p.update == ["h3"]  # no budget left for an available one
    assert p.waiting == ["h2", "h4", "h5"]


def test_outdated_agents_that_are_down_still_take_a_slot_each() -> None:
    old, new = agentset("proxy:1"), agentset("proxy:2", max_unavailable=2)
    hosts = [host(f"h{i}") for i in range(1, 6)]
    apps = [agent(old, f"h{i}", template=template_hash(old), ready=False) for i in range(1, 6)]
    p = plan(new, hosts, apps)
    assert p.update == ["h1", "h2"] and p.waiting == ["h3", "h4", "h5"]


def test_next_batch_once_the_updated_are_ready() -> None:
    old, new = agentset("proxy:1"), agentset("proxy:2", max_unavailable=2)
    t_old, t_new = template_hash(old), template_hash(new)
    hosts = [host(f"h{i}") for i in range(1, 5)]
    apps = [agent(new, "h1", template=t_new), agent(new, "h2", template=t_new)]
    apps += [agent(old, "h3", template=t_old), agent(old, "h4", template=t_old)]
    p = plan(new, hosts, apps)
    assert p.update == ["h3", "h4"] and p.updated == 4 and p.ready == 2


def test_a_new_host_gets_the_current_template_at_once_during_a_rollout() -> None:
    old, new = agentset("proxy:1"), agentset("proxy:2")
    hosts = [host("h1"), host("h2"), host("h3")]
    apps = [agent(new, "h1", template=template_hash(new), ready=False)]
    apps.append(agent(old, "h2", template=template_hash(old)))
    p = plan(new, hosts, apps)
    assert p.create == ["h3"] and p.update == []  # h1 still uses the one slot


def test_percentage_rounds_down_at_least_one() -> None:
    old, new = agentset("proxy:1"), agentset("proxy:2", max_unavailable="10%")
    hosts = [host(f"h{i:02}") for i in range(25)]
    apps = [agent(old, f"h{i:02}", template=template_hash(old)) for i in range(25)]
    p = plan(new, hosts, apps)
    assert p.max_unavailable == 2 and len(p.update) == 2


def test_rollout_done() -> None:
    s = agentset()
    p = plan(s, [host("h1")], [agent(s, "h1", template=template_hash(s))])
    assert not p.rolling and (p.desired, p.ready, p.updated) == (1, 1, 1)
    assert p.rows[0].ready and p.rows[0].app == "proxy-h1"


def test_long_names_are_shortened_to_a_dns_label() -> None:
    name = agent_app_name("monitoring-agent-with-a-long-name", "rack12-server-0042-example-zone")
    assert len(name) <= 63 and name.startswith("monitoring-agent")
    ObjectMeta(name=name)
    assert name != agent_app_name("monitoring-agent-with-a-long-name", "rack12-server-0043-x-zone")


def test_changed_template_changes_the_hash_only() -> None:
    assert template_hash(agentset("proxy:1")) == template_hash(agentset("proxy:1"))
    assert template_hash(agentset("proxy:1")) != template_hash(agentset("proxy:2"))
    assert template_hash(agentset("proxy:1")) == template_hash(agentset("proxy:1", 5))
