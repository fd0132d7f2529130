"""Agents from flags and cluster files, and the ``python -m localcluster mesos`` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from localcluster.mesos.cluster import load_cluster, parse_attributes
from localcluster.mesos.server import LocalMaster
from tests.localcluster.test_mesos_master_wire import Scheduler, framework_info, settings

CLUSTER = """
agents:
  - hostname: web-01.dc1
    resources: {cpus: 4, mem: 8192, disk: 1000, ports: "31000-31004"}
    attributes: {rack: r1, dc: dc1, weight: 2}
    reservations: {web: "cpus:1;mem:1024"}
  - hostname: batch-01.dc1
    count: 3
    attributes: "rack:r2;dc:dc1"
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("rack:r1", [("rack", "TEXT", "r1")], id="text"),
        pytest.param("rack:r1,dc:dc1", [("rack", "TEXT", "r1"), ("dc", "TEXT", "dc1")], id="comma"),
        pytest.param(
            "cores:8;zone:a", [("cores", "SCALAR", 8.0), ("zone", "TEXT", "a")], id="scalar"
        ),
        pytest.param("", [], id="empty"),
    ],
)
def test_attributes_follow_the_mesos_grammar(
    text: str, expected: list[tuple[str, str, object]]
) -> None:
    parsed = parse_attributes(text)
    got = [
        (a.name, str(a.type), a.text.value if a.text else a.scalar.value if a.scalar else None)
        for a in parsed
    ]
    assert got == expected


async def test_cluster_file_agents_offer_attributes_and_static_reservations(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(CLUSTER)
    agents = load_cluster(path)
    assert [a.hostname for a in agents] == [
        "web-01.dc1",
        "batch-01.dc1",
        "batch-02.dc1",
        "batch-03.dc1",
    ]
    async with (
        LocalMaster(settings(agents=agents)) as started,
        httpx.AsyncClient(base_url=started.url, timeout=10) as http,
    ):
        framework = Scheduler(http)
        try:
            await framework.subscribe(
                framework_info(capabilities=[{"type": "RESERVATION_REFINEMENT"}])
            )
            offers = await framework.offers()
            web = next(o for o in offers if o["hostname"] == "web-01.dc1")
            attributes = {a["name"]: a for a in web["attributes"]}
            assert attributes["rack"] == {"name": "rack", "type": "TEXT", "text": {"value": "r1"}}
            assert attributes["weight"]["scalar"] == {"value": 2.0}
            reserved = [r for r in web["resources"] if r.get("reservations")]
            assert {r["name"]: r["scalar"]["value"] for r in reserved} == {
                "cpus": 1.0,
                "mem": 1024.0,
            }
            assert reserved[0]["reservations"] == [{"type": "STATIC", "role": "web"}]
            cpus = sum(r["scalar"]["value"] for r in web["resources"] if r["name"] == "cpus")
            assert cpus == 4.0
        finally:
            await framework.close()


def test_command_line_serves_a_master() -> None:
    flags = [
        "--listen",
        "127.0.0.1:0",
        "--agents",
        "2",
        "--reserve",
        "web=cpus:1",
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcluster", "mesos", *flags],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.rsplit(" on ", 1)[1].strip()
        state = httpx.get(f"{url}/master/state", timeout=10).json()
        assert [s["hostname"] for s in state["slaves"]] == ["agent-001.local", "agent-002.local"]
        assert state["slaves"][0]["reserved_resources"]["web"]["cpus"] == 1.0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_command_line_reports_a_missing_cluster_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "localcluster", "mesos", "--cluster", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
