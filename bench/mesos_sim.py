"""10,000 sim tasks on 1,000 agents of the local Mesos master: time to RUNNING, RSS.

The master runs as its own process (``python -m localcluster mesos
--containerizer sim``), so its RSS is its own. A raw httpx framework
subscribes, launches ten tasks into each of the 1,000 agents' first offer
and acknowledges every update, as a real scheduler must (the next update of
a task is only sent after the previous one is acknowledged). The clock runs
from the first ACCEPT to the 10,000th TASK_RUNNING received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from adapters.mesos import recordio
from bench.common import Figure

logger = logging.getLogger(__name__)

AGENTS = 1000
TASKS_PER_AGENT = 10
JSON = {"Content-Type": "application/json"}


def start_master(*flags: str, stderr: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """``python -m localcluster mesos`` with sim agents on any free port, as its own process:
    the process and its URL, read from the line it prints once it serves.

    ``flags`` are more of its options; ``stderr`` as for ``subprocess.Popen``. RuntimeError
    (the process killed) when the first line is not that one.
    """
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localcluster",
            "mesos",
            "--listen",
            "127.0.0.1:0",
            "--containerizer",
            "sim",
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " on http://" not in line:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"master did not start: {line!r}")
    return proc, line.rsplit(" on ", 1)[1].strip()


def _start_master() -> tuple[subprocess.Popen[str], str]:
    """The bench's master: :data:`AGENTS` sim agents, status updates retried after 30 s."""
    return start_master(
        "--agents",
        str(AGENTS),
        "--allocation-interval",
        "0.5",
        "--status-update-retry",
        "30",
        "--log-level",
        "WARNING",
    )


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Poster:
    """Keep-alive HTTP/1.1 POSTs over plain asyncio streams, ``width`` connections.

    httpx costs more CPU per request than the master under test does, and both
    share the same cores here, so the bench posts its calls with this instead.
    """

    def __init__(self, url: str, headers: dict[str, str], width: int = 16) -> None:
        hostport = url.removeprefix("http://")
        self.host, _, port = hostport.partition(":")
        self.port = int(port)
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.width = width

    def post(self, call: dict[str, Any]) -> None:
        self.queue.put_nowait(json.dumps(call).encode())

    async def worker(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            while True:
                body = await self.queue.get()
                head = (
                    f"POST /api/v1/scheduler HTTP/1.1\r\nHost: {self.host}\r\n{self.head}"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                status = await reader.readline()
                if not status.startswith(b"HTTP/1.1 20"):
                    raise RuntimeError(f"call refused: {status!r}")
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
        finally:
            writer.close()


def _task(task_id: str, agent_id: dict[str, str]) -> dict[str, Any]:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": agent_id,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"value": "sleep 3600"},
    }


async def _drive(url: str) -> float:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        info = {
            "user": "bench",
            "name": "bench",
            "roles": ["bench"],
            "capabilities": [{"type": "MULTI_ROLE"}],
        }
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        running = 0
        done = asyncio.Event()
        started = 0.0
        async with client.stream(
            "POST", "/api/v1/scheduler", content=json.dumps(body), headers=JSON
        ) as resp:
            stream_id = resp.headers["mesos-stream-id"]
            fid: dict[str, str] = {}

            poster = _Poster(url, {**JSON, "Mesos-Stream-Id": stream_id})

            def launch(offers: list[dict[str, Any]]) -> None:
                for offer in offers:
                    agent = offer["agent_id"]
                    tasks = [_task(f"{agent['value']}-{i}", agent) for i in range(TASKS_PER_AGENT)]
                    operation = {"type": "LAUNCH", "launch": {"task_infos": tasks}}
                    accept = {
                        "offer_ids": [offer["id"]],
                        "operations": [operation],
                        "filters": {"refuse_seconds": 3600},
                    }
                    poster.post({"type": "ACCEPT", "framework_id": fid, "accept": accept})

            async with asyncio.TaskGroup() as group:
                workers = [
                    group.create_task(poster.worker(), name=f"bench:post:{i}")
                    for i in range(poster.width)
                ]
                launched = 0
                decoder = recordio.RecordIODecoder()
                async for chunk in resp.aiter_bytes():
                    for record in decoder.feed(chunk):
                        event = json.loads(record)
                        kind = event["type"]
                        if kind == "SUBSCRIBED":
                            fid.update(event["subscribed"]["framework_id"])
                        elif kind == "OFFERS" and launched < AGENTS:
                            offers = event["offers"]["offers"][: AGENTS - launched]
                            launched += len(offers)
                            if not started:
                                started = time.perf_counter()
                            launch(offers)
                        elif kind == "UPDATE":
                            status = event["update"]["status"]
                            if "uuid" in status:
                                ack = {k: status[k] for k in ("agent_id", "task_id", "uuid")}
                                poster.post(
                                    {"type": "ACKNOWLEDGE", "framework_id": fid, "acknowledge": ack}
                                )
                            if status["state"] == "TASK_RUNNING":
                                running += 1
                                if running == AGENTS * TASKS_PER_AGENT:
                                    done.set()
                    if done.is_set():
                        break
                for worker in workers:
                    worker.cancel()
        return time.perf_counter() - started


def run() -> list[Figure]:
    proc, url = _start_master()
    try:
        idle = _rss_mib(proc.pid)
        took = asyncio.run(_drive(url))
        busy = _rss_mib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    total = AGENTS * TASKS_PER_AGENT
    return [
        Figure(f"mesos sim: {total:,} tasks on {AGENTS:,} agents to RUNNING", took, "s", "< 10"),
        Figure("mesos sim: master RSS with 1,000 agents, idle", idle, "MiB"),
        Figure(f"mesos sim: master RSS with {total:,} running tasks", busy, "MiB"),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.render())
