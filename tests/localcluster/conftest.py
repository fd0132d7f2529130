"""Fixtures for the local cluster's runtimes: a report recorder.

``reports`` records what a containerizer reports and waits for a report
matching a condition, with a deadline. The Docker engine fixtures
(``dockerd``, ``busybox_image``, ``docker_engine``) live in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from adapters.mesos import TaskState
from localcluster.mesos.containerizer import StatusReport

logger = logging.getLogger(__name__)


class Reports:
    """A containerizer's ``report`` callback that keeps every report, in order."""

    def __init__(self) -> None:
        self.seen: list[StatusReport] = []
        self._changed = asyncio.Event()

    async def __call__(self, status: StatusReport) -> None:
        logger.debug("report %s", status)
        self.seen.append(status)
        self._changed.set()

    def states(self, task_id: str) -> list[TaskState]:
        return [status.state for status in self.seen if status.task_id == task_id]

    async def wait_for(
        self, condition: Callable[[StatusReport], bool], *, within: float = 30.0
    ) -> StatusReport:
        """The first report (already seen or yet to come) matching ``condition``."""
        async with asyncio.timeout(within):
            while True:
                for status in self.seen:
                    if condition(status):
                        return status
                self._changed.clear()
                await self._changed.wait()

    async def wait_state(
        self, task_id: str, state: TaskState, *, within: float = 30.0
    ) -> StatusReport:
        return await self.wait_for(
            lambda s: s.task_id == task_id and s.state == state, within=within
        )

    async def wait_health(
        self, task_id: str, healthy: bool, *, within: float = 30.0
    ) -> StatusReport:
        return await self.wait_for(
            lambda s: s.task_id == task_id and s.healthy is healthy, within=within
        )


@pytest.fixture
def reports() -> Reports:
    return Reports()
