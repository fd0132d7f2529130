"""Pieces every end-to-end scenario uses: free ports and a quick local master."""

from __future__ import annotations

import socket
from typing import Any

from localcluster.mesos.cluster import agents_from_flags
from localcluster.mesos.settings import MasterSettings, SimSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sim_master_settings(
    *, agents: int = 3, running_delay: float = 0.05, **extra: Any
) -> MasterSettings:
    """A local master of small sim agents with short intervals, so scenarios take seconds."""
    return MasterSettings(
        agents=agents_from_flags(agents, cpus=4, mem=4096, ports="31000-31019"),
        heartbeat_interval=0.5,
        allocation_interval=0.1,
        allocation_batch=0.01,
        status_update_retry=0.5,
        sim=SimSettings(running_delay=running_delay),
        **extra,
    )
