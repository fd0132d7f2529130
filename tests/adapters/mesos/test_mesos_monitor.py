"""The utilisation maths of ``adapters.mesos.monitor`` on the agent's documented answer."""

from __future__ import annotations

import json

import pytest

from adapters.mesos.monitor import (
    agent_statistics_url,
    cpus_used,
    mem_utilisation,
    parse_statistics,
)

# The example of the agent's /monitor/statistics endpoint in the Mesos documentation.
REFERENCE = """[{
    "executor_id":"executor",
    "executor_name":"name",
    "framework_id":"framework",
    "source":"source",
    "statistics":
    {
        "cpus_limit":8.25,
        "cpus_nr_periods":769021,
        "cpus_nr_throttled":1046,
        "cpus_system_time_secs":34501.45,
        "cpus_throttled_time_secs":352.597023453,
        "cpus_user_time_secs":96348.84,
        "mem_anon_bytes":4845449216,
        "mem_file_bytes":260165632,
        "mem_limit_bytes":7650410496,
        "mem_mapped_file_bytes":7159808,
        "mem_rss_bytes":5105614848,
        "timestamp":1388534400.0
    }
}]"""


def _later(seconds: float, user: float, system: float) -> str:
    data = json.loads(REFERENCE)
    stats = data[0]["statistics"]
    stats["timestamp"] += seconds
    stats["cpus_user_time_secs"] += user
    stats["cpus_system_time_secs"] += system
    return json.dumps(data)


def test_the_reference_answer_parses() -> None:
    (entry,) = parse_statistics(REFERENCE)
    assert (entry.executor_id, entry.framework_id, entry.task_id) == (
        "executor",
        "framework",
        "source",
    )
    assert entry.statistics.cpu_time == pytest.approx(96348.84 + 34501.45)
    assert entry.statistics.cpus_limit == 8.25
    assert mem_utilisation(entry.statistics) == pytest.approx(5105614848 / 7650410496)


def test_cpu_utilisation_is_the_cpu_time_delta_over_the_wall_delta() -> None:
    (before,) = parse_statistics(REFERENCE)
    # 10 s later: 30 s of user and 11.25 s of system time, 4.125 CPUs busy of 8.25.
    (after,) = parse_statistics(_later(10.0, 30.0, 11.25))
    used = cpus_used(before.statistics, after.statistics)
    assert used == pytest.approx(4.125)
    assert used is not None and used / 8.25 == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("seconds", "user"),
    [pytest.param(0.0, 1.0, id="same-instant"), pytest.param(-5.0, 1.0, id="backwards")],
)
def test_no_interval_no_figure(seconds: float, user: float) -> None:
    (before,) = parse_statistics(REFERENCE)
    (after,) = parse_statistics(_later(seconds, user, 0.0))
    assert cpus_used(before.statistics, after.statistics) is None


def test_a_restarted_counter_reads_as_idle_not_negative() -> None:
    (before,) = parse_statistics(REFERENCE)
    (after,) = parse_statistics(_later(10.0, -96000.0, 0.0))
    assert cpus_used(before.statistics, after.statistics) == 0.0


def test_missing_memory_figures_give_none() -> None:
    (entry,) = parse_statistics(
        '[{"executor_id": "e", "framework_id": "f", "statistics": {"timestamp": 1.0}}]'
    )
    assert mem_utilisation(entry.statistics) is None
    assert entry.statistics.cpu_time is None
    assert entry.task_id == "e"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{}", id="object"),
        pytest.param("[{}]", id="no-fields"),
        pytest.param("not json", id="text"),
    ],
)
def test_an_unreadable_answer_is_a_value_error(body: str) -> None:
    with pytest.raises(ValueError):
        parse_statistics(body)


@pytest.mark.parametrize(
    ("pid", "url"),
    [
        pytest.param(
            "slave(1)@10.0.0.5:5051", "http://10.0.0.5:5051/slave(1)/monitor/statistics", id="real"
        ),
        pytest.param(
            "slave(3)@127.0.0.1:40123",
            "http://127.0.0.1:40123/slave(3)/monitor/statistics",
            id="local",
        ),
    ],
)
def test_an_agent_pid_names_its_statistics(pid: str, url: str) -> None:
    assert agent_statistics_url(pid) == url


def test_a_pid_without_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="is not ID@HOST:PORT"):
        agent_statistics_url("slave(1)")
