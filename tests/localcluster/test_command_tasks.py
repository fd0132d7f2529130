"""Per-task containerizer choice: with ``command_containerizer="process"``, a command
task (no ContainerInfo) runs as a real local process on a sim agent while a Docker
task next to it stays simulated; the process sees its agent's address and ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec
from tests.localcluster.test_mesos_master_wire import Scheduler, framework_info, settings, task_info


async def test_a_command_task_runs_as_a_process_next_to_a_sim_docker_task(tmp_path: Path) -> None:
    out = tmp_path / "seen"
    agents = (AgentSpec(hostname="h1", ip="127.0.0.31", cpus=4, mem=4096, ports="31000-31009"),)
    master_settings = settings(
        agents, command_containerizer="process", work_dir=str(tmp_path / "agents")
    )
    async with (
        LocalMaster(master_settings) as local,
        httpx.AsyncClient(base_url=local.url, timeout=10) as http,
    ):
        framework = Scheduler(http)
        try:
            await framework.subscribe(framework_info())
            offer = (await framework.offers())[0]
            agent = offer["agent_id"]["value"]
            ports = {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": 31003, "end": 31003}]},
            }
            command = task_info("command", agent)
            command["resources"].append(ports)
            command["command"] = {"value": f'echo "$LIBPROCESS_IP:$PORT0" > {out}'}
            docker: dict[str, Any] = {"type": "DOCKER", "docker": {"image": "busybox:1"}}
            simulated = task_info("simulated", agent, container=docker)
            simulated["command"] = {"value": f"echo never > {tmp_path / 'never'}"}
            await framework.launch(offer, command, simulated)
            for task_id in ("command", "simulated"):  # updates wait for the previous ack
                await framework.ack(await framework.update(task_id, "TASK_STARTING"))
            await framework.ack(await framework.update("command", "TASK_RUNNING"))
            finished = await framework.update("command", "TASK_FINISHED")
            running = await framework.update("simulated", "TASK_RUNNING")
        finally:
            await framework.close()

    assert finished["state"] == "TASK_FINISHED"
    assert running["state"] == "TASK_RUNNING"
    assert out.read_text() == "127.0.0.31:31003\n"
    assert not (tmp_path / "never").exists()  # the Docker task was simulated
