"""reconciler.hosts.onboarding: GET_AGENTS/GET_TASKS read into plain values, and
a Host's attributes compared with its agent's."""

from __future__ import annotations

from adapters.mesos.model_base import from_json
from adapters.mesos.model_operator import GetAgents, GetTasks
from adapters.protocols import DockerHostState, LabelledContainer
from crds.host import HostAttributes
from reconciler.hosts.onboarding import (
    AgentView,
    AttributeDiff,
    DrainState,
    MesosTasks,
    agents_by_hostname,
    attribute_diff,
    diff_message,
    known_task_ids,
    tasks_of,
)

AGENTS = b"""{"agents": [
  {"agent_info": {"hostname": "h1", "id": {"value": "S1"}, "attributes": [
     {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
     {"name": "cores", "type": "SCALAR", "scalar": {"value": 4.0}}]},
   "active": true, "version": "1.11.0"},
  {"agent_info": {"hostname": "h2", "id": {"value": "S2"}},
   "active": false, "deactivated": true, "version": "1.11.0",
   "drain_info": {"state": "DRAINED", "config": {"mark_gone": false}}}
]}"""


def test_agents_by_hostname_reads_attributes_and_drain_state() -> None:
    agents = agents_by_hostname(from_json(GetAgents, AGENTS))
    assert agents["h1"] == AgentView("S1", "h1", {"rack": "r1", "cores": "4"})
    assert agents["h2"].drain is DrainState.DRAINED
    assert agents["h2"].deactivated


def test_tasks_of_splits_live_and_completed() -> None:
    def task(tid: str, state: str) -> str:
        return (
            f'{{"name": "t", "task_id": {{"value": "{tid}"}}, "framework_id": {{"value": "F"}},'
            f' "agent_id": {{"value": "S1"}}, "state": "{state}"}}'
        )

    raw = (
        f'{{"tasks": [{task("a", "TASK_RUNNING")}], '
        f'"pending_tasks": [{task("b", "TASK_STAGING")}], '
        f'"completed_tasks": [{task("c", "TASK_KILLED")}]}}'
    )
    tasks = tasks_of(from_json(GetTasks, raw.encode()))
    assert tasks == MesosTasks(live=frozenset({"a", "b"}), completed=frozenset({"c"}))


def test_known_task_ids_counts_a_running_container_of_a_completed_task_as_unknown() -> None:
    def c(name: str, task: str, state: str) -> LabelledContainer:
        return LabelledContainer(name, name, {"dcos.task_id": task}, state)

    state = DockerHostState(
        "vfs",
        "json-file",
        None,
        None,
        None,
        (c("x", "done", "exited"), c("y", "killed", "running")),
    )
    known = known_task_ids(
        MesosTasks(live=frozenset({"a"}), completed=frozenset({"done", "killed"})), state
    )
    assert set(known) == {"a", "done"}


def test_attribute_diff_names_each_difference_both_ways() -> None:
    want = HostAttributes(rack="r1", dc="sh1").as_mesos()
    have = {"rack": "r2", "ssd": "true"}
    diffs = attribute_diff(want, have)
    assert diffs == [
        AttributeDiff("dc", "sh1", "(none)"),
        AttributeDiff("rack", "r1", "r2"),
        AttributeDiff("ssd", "(none)", "true"),
    ]
    message = diff_message(AgentView("S1", "h1"), diffs)
    assert message == (
        "agent S1 attributes differ: dc: spec sh1, agent (none); rack: spec r1, agent r2; "
        "ssd: spec (none), agent true"
    )


def test_attribute_diff_is_empty_when_they_agree() -> None:
    assert attribute_diff({"rack": "r1"}, {"rack": "r1"}) == []
