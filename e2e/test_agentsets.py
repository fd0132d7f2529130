"""AgentSets end to end: onboarded hosts get their agent, a drained host loses it, a
changed template rolls over the hosts never more than maxUnavailable down at once, and
a host onboarded into a domain runs its agents before any App instance lands there.

The installed ``dcos-controller`` runs on the test's etcd and a local master
of four sim agents named like the Hosts applied, all unreserved: the Domain
controller reserves each host's system slice for the role ``dcos-system``
(and a domain's hosts for its role) dynamically. The rollout bound and the
agents-first order are checked on the instance records at every etcd
revision: an agent is up while its App has a healthy instance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.agentset import AgentSet
from e2e.harness import RecordsWatch, Stack, UpCluster, instance_records, sim_master_settings, until
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec
from reconciler.system import SYSTEM_DOMAIN

HOSTS = ("node-1", "node-2", "node-3", "node-4")

HOST = """\
apiVersion: dcos/v1
kind: Host
metadata:
  name: {name}
  labels:
    agents: "true"
spec:
  lifecycle: {lifecycle}
  address: 127.0.0.1
  resources:
    cpus: 4
    mem: 4096
"""

AGENTSET = """\
apiVersion: dcos/v1
kind: AgentSet
metadata:
  name: proxy
spec:
  hostSelector:
    matchLabels:
      agents: "true"
  template:
    image: registry.example.com/platform/proxy:{tag}
    cpus: 0.25
    mem: 64Mi
  updateStrategy:
    maxUnavailable: 2
"""


SHOP_HOST = """\
apiVersion: dcos/v1
kind: Host
metadata:
  name: {name}
  labels:
    agents: "true"
spec:
  lifecycle: Active
  domain: shop
  address: 127.0.0.1
  resources:
    cpus: 4
    mem: 4096
"""

SHOP = """\
apiVersion: dcos/v1
kind: Domain
metadata:
  name: shop
spec:
  sharedPool:
    borrow: Never
---
apiVersion: dcos/v1
kind: App
metadata:
  name: web
  domain: shop
spec:
  image: registry.example.com/shop/web:1
  command: ["/bin/sh", "-c", "sleep 3600"]
  instances: 4
  cpus: 0.1
  mem: 32
  constraints:
    - ["hostname", "UNIQUE"]
"""


def hosts(draining: str | None = None) -> str:
    docs = [HOST.format(name=n, lifecycle="Draining" if n == draining else "Active") for n in HOSTS]
    return "---\n".join(docs)


@pytest.fixture
async def sim_master() -> AsyncIterator[LocalMaster]:
    agents = tuple(
        AgentSpec(
            hostname=name,
            cpus=4,
            mem=4096,
            ports="31000-31019",
        )
        for name in HOSTS
    )
    settings = dataclasses.replace(sim_master_settings(running_delay=0.05), agents=agents)
    async with LocalMaster(settings) as started:
        yield started


async def agentset(store: EtcdStore) -> AgentSet | None:
    with contextlib.suppress(Exception):
        got = await store.get(ObjectKey("AgentSet", None, "proxy"))
        return got if isinstance(got, AgentSet) else None
    return None


class AvailabilityWatch(RecordsWatch):
    """The agents (system Apps) with a healthy instance, at every etcd revision of the
    system domain's instance records; the most agents seen down at once."""

    def __init__(self, store: EtcdStore, agents: list[str]) -> None:
        super().__init__(store, store.keys.raw(f"instances/{SYSTEM_DOMAIN}") + b"/")
        self.agents = agents
        self.most_down = 0

    def _check(self) -> None:
        up = {i.app for i in self.instances() if i.is_healthy}
        down = sum(1 for agent in self.agents if agent not in up)
        self.most_down = max(self.most_down, down)
        self.checked += 1


class AgentsFirstWatch(RecordsWatch):
    """At every etcd revision of the instance records: every App instance outside the
    system domain placed on a host finds that host's agents running there already."""

    def __init__(self, store: EtcdStore, agents: dict[str, list[str]]) -> None:
        super().__init__(store, store.keys.raw("instances") + b"/")
        self.agents = agents  # host -> the agent Apps it must run first
        self.landed: set[str] = set()  # hosts an App instance landed on
        self.violations: list[str] = []

    def _check(self) -> None:
        instances = self.instances()
        running = {(i.app, i.hostname) for i in instances if i.is_running}
        for inst in instances:
            if inst.domain == SYSTEM_DOMAIN or not inst.is_active or inst.hostname is None:
                continue
            self.landed.add(inst.hostname)
            for agent in self.agents.get(inst.hostname, []):
                if (agent, inst.hostname) not in running:
                    self.violations.append(
                        f"revision {self.revision}: {inst.instance_id} on {inst.hostname}"
                        f" before its agent {agent} runs"
                    )
        self.checked += 1


def running_agents(master: LocalMaster) -> dict[str, str]:
    """Running task id -> the agent hostname it runs on."""
    names = {a.id: a.hostname for a in master.master.state.agents.values()}
    return {
        rec.info.task_id.value: names.get(rec.agent_id, rec.agent_id)
        for fw in master.master.state.frameworks.values()
        for rec in fw.tasks.values()
        if str(rec.state) == "TASK_RUNNING"
    }


async def test_agents_follow_hosts_and_roll_within_the_bound(
    sim_master: LocalMaster, sim_stack: Stack
) -> None:
    stack = sim_stack
    stack.apps += [(SYSTEM_DOMAIN, f"proxy-{n}") for n in HOSTS]
    await stack.apply(hosts())
    await stack.apply(AGENTSET.format(tag="1"))

    async def converged(desired: int) -> bool:
        s = await agentset(stack.store)
        if s is None:
            return False
        st = s.status
        ready = any(c.type == "Ready" and c.status == "True" for c in st.conditions)
        return (st.desired, st.ready, st.updated) == (desired, desired, desired) and ready

    await stack.until("an agent on each of the 4 hosts", lambda: converged(4))
    on = sorted(running_agents(sim_master).values())
    assert on == sorted(HOSTS)
    listed = await stack.ctl("get", "apps", "-d", SYSTEM_DOMAIN)
    assert listed.code == 0 and "proxy-node-1" in listed.out, listed.err
    got = await stack.ctl("get", "agentsets")
    assert got.code == 0 and "proxy" in got.out, got.err
    assert got.out.split("\n")[1].split()[1:4] == ["4", "4", "4"], got.out

    agents = [f"proxy-{n}" for n in HOSTS]
    async with AvailabilityWatch(stack.store, agents) as watch:
        await stack.apply(AGENTSET.format(tag="2"))

        async def rolled() -> bool:
            s = await agentset(stack.store)
            return s is not None and s.status.template_hash != "" and await converged(4)

        await stack.until("the new template on every host", rolled)
        s = await agentset(stack.store)
        assert s is not None
        assert all(row.template == s.status.template_hash for row in s.status.hosts)
    assert watch.checked > 4
    assert 1 <= watch.most_down <= 2, f"{watch.most_down} agents down at once, bound 2"
    for app in agents:
        assert str((await stack.app(SYSTEM_DOMAIN, app)).spec.image).endswith("proxy:2")

    await stack.apply(hosts(draining="node-4"))

    async def removed() -> bool:
        s = await agentset(stack.store)
        tasks = running_agents(sim_master).values()
        return s is not None and s.status.desired == 3 and "node-4" not in tasks

    await stack.until("the drained host's agent to go", removed)
    await until("its App deleted", lambda: _gone(stack.store, "proxy-node-4"))
    described = await stack.ctl("describe", "agentset", "proxy")
    assert described.code == 0, described.err
    assert "AgentRemoved" in described.out


async def _gone(store: EtcdStore, name: str) -> bool:
    try:
        await store.get(ObjectKey("App", SYSTEM_DOMAIN, name))
    except Exception:
        return True
    return False


async def test_deleting_the_agentset_removes_its_agents(
    sim_master: LocalMaster, sim_stack: Stack
) -> None:
    stack = sim_stack
    await stack.apply(hosts())
    await stack.apply(AGENTSET.format(tag="1"))

    async def placed() -> bool:
        s = await agentset(stack.store)
        return s is not None and s.status.ready == 4

    await stack.until("an agent on each host", placed)
    ran = await stack.ctl("delete", "agentset", "proxy")
    assert ran.code == 0, ran.err

    async def all_gone() -> bool:
        apps = await stack.store.list("App", domain=SYSTEM_DOMAIN)
        return not apps.items and await agentset(stack.store) is None

    await stack.until("the AgentSet and its Apps to go", all_gone)
    await until("no agent task running", lambda: _no_tasks(sim_master))


async def _no_tasks(master: LocalMaster) -> bool:
    return not running_agents(master)


async def test_a_host_onboarded_into_a_domain_runs_its_agents_before_any_app(
    sim_master: LocalMaster, sim_stack: Stack
) -> None:
    stack = sim_stack
    stack.apps += [("shop", "web")]
    first, new = HOSTS[:3], HOSTS[3]
    agents = {host: [f"proxy-{host}"] for host in HOSTS}
    async with AgentsFirstWatch(stack.store, agents) as watch:
        await stack.apply("---\n".join(SHOP_HOST.format(name=n) for n in first))
        await stack.apply(AGENTSET.format(tag="1"))
        await stack.apply(SHOP)

        async def on(hosts: set[str]) -> bool:
            records = await instance_records(stack.store, "shop", "web")
            return {r.hostname for r in records if r.is_running} == hosts

        # UNIQUE hostname: the fourth instance waits for a fourth host of the domain.
        await stack.until("web on the domain's three hosts", lambda: on(set(first)))
        await stack.apply(SHOP_HOST.format(name=new))
        await stack.until(f"web on {new} too", lambda: on(set(HOSTS)))
    assert watch.checked > 4
    assert watch.landed == set(HOSTS)
    assert watch.violations == []
    described = await stack.ctl("describe", "app", "web", "-d", "shop")
    assert described.code == 0, described.err
    assert f"waiting for agents on {new}: proxy" in described.out, described.out


def test_make_up_runs_the_example_agents_on_every_host(tmp_path: Path) -> None:
    """specs/agentsets.yaml on the example data center: every AgentSet becomes Ready."""
    with UpCluster(tmp_path, up_wait=30, timeout=120) as cluster:
        cluster.up()
        deadline = time.monotonic() + 60
        while True:
            listing = json.loads(cluster.run("get", "agentsets", "-o", "json").stdout)["items"]
            counts = {
                item["metadata"]["name"]: (
                    item["status"].get("desired"),
                    item["status"].get("ready"),
                    item["status"].get("updated"),
                )
                for item in listing
            }
            if len(counts) == 4 and all(d and d == r == u for d, r, u in counts.values()):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"AgentSets not ready after 60 s: {counts}")
            time.sleep(0.5)  # polling another process's state; nothing to wait on
        owned = ("-l", "dcos/owner-kind=AgentSet")  # the registry replicas live there too
        listed = cluster.run("get", "apps", "-d", SYSTEM_DOMAIN, *owned, "-o", "json")
        apps = json.loads(listed.stdout)
        assert len(apps["items"]) == sum(d for d, _, _ in counts.values())
