"""Fixtures of the fault scenarios: the full stack, its settings, and the checks at the end.

``stack_settings`` is a :class:`~e2e.faults.stack.StackSettings` (a module
overrides it: ``proxied=True`` to cut a controller off from etcd, more hosts,
master settings); ``fault_stack`` is a :class:`~e2e.faults.stack.FaultStack`
on it, entered (etcd, master, CMDB, ``ctl-a`` leading and ``ctl-b`` standing
by, the history recording) and stopped after the test.

A scenario injects its faults through the stack's methods (each one is
recorded in the history) and ends with ``await fault_stack.verify()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from e2e.faults.stack import FaultStack, StackSettings


@pytest.fixture
def stack_settings() -> StackSettings:
    return StackSettings()


@pytest.fixture
async def fault_stack(stack_settings: StackSettings, tmp_path: Path) -> AsyncIterator[FaultStack]:
    async with FaultStack(tmp_path, stack_settings) as stack:
        yield stack
