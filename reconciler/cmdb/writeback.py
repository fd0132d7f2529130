"""The CMDB write-back queue: every container's address, host and app, kept in step.

Controllers say what the mapping should be (:meth:`WriteBack.put`,
:meth:`WriteBack.remove`, or the whole of it with :meth:`WriteBack.replace`);
they never wait for the CMDB. The queue keeps two maps and one set::

    desired: task → CmdbAddress       what the CMDB should hold
    written: task → CmdbAddress       what it is known to hold (listed, then tracked)
    dirty:   tasks                    every task whose desired and written differ is dirty

A pass (:meth:`WriteBack.sync_once`) first lists the CMDB's container
addresses once (so addresses of tasks that ended while nothing was running
are removed too), then computes :func:`changes` for the dirty tasks, a pure
function, and applies them one by one. A task is clean only when what was
written is still what is desired, so changes made during a write are not
lost; several changes to one task before a pass are one write (coalescing),
because only the latest desired value is kept.

When the CMDB is unreachable (:class:`CmdbUnavailable`) the pass stops,
everything stays dirty, and :meth:`WriteBack.run` retries with exponential
backoff until it answers again: an outage delays the write-back and loses
nothing. An outage is logged once when it starts (a warning) and once when
it ends (how long it lasted); :attr:`WriteBack.outage_since` says since when
the CMDB has not answered. A refused write (:class:`CmdbRejected`) is logged
and recorded in :attr:`WriteBack.failures`, the task stays dirty and the
other tasks go on.
The queue lives in memory: after a restart the controllers' level-based
``replace`` plus the initial listing rebuild it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adapters.protocols import CmdbAddress, CmdbAddresses
from crds.errors import CmdbError, CmdbUnavailable
from reconciler.runtime.clock import Clock, MonotonicClock

__all__ = ["Put", "Remove", "WriteBack", "WriteBackSettings", "changes"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Put:
    """Create or update the CMDB's address object of ``address.task``."""

    address: CmdbAddress


@dataclass(frozen=True)
class Remove:
    """Delete the CMDB's address object of ``task``."""

    task: str


Change = Put | Remove


def changes(
    desired: Mapping[str, CmdbAddress], written: Mapping[str, CmdbAddress], tasks: Iterable[str]
) -> list[Change]:
    """What brings ``written`` to ``desired`` for ``tasks``, sorted by task; none when equal."""
    out: list[Change] = []
    for task in sorted(set(tasks)):
        want, have = desired.get(task), written.get(task)
        if want == have:
            continue
        out.append(Remove(task) if want is None else Put(want))
    return out


@dataclass(frozen=True)
class WriteBackSettings:
    """How the write-back retries."""

    backoff: float = 0.5
    """Seconds before retrying a failed pass; doubled on each failure."""
    backoff_max: float = 30.0
    """The longest wait between passes while the CMDB fails."""


class WriteBack:
    """The queue; :meth:`run` it in a named task, feed it from controllers."""

    def __init__(
        self,
        cmdb: CmdbAddresses,
        *,
        settings: WriteBackSettings | None = None,
        clock: Clock | None = None,  # None for the loop's own time
    ) -> None:
        self._cmdb = cmdb
        self.settings = settings or WriteBackSettings()
        self._clock = clock or MonotonicClock()
        self.desired: dict[str, CmdbAddress] = {}
        self.written: dict[str, CmdbAddress] = {}
        self.dirty: set[str] = set()  # ⊇ every task whose desired and written differ
        self.listed = False  # written holds the CMDB's listing (and our writes since)
        self.failures: dict[str, str] = {}  # task → the CMDB's refusal of its last write
        self.last_error: CmdbError | None = None  # of the last pass; None when it succeeded
        self.outage_since: float | None = None  # clock time of the first unreachable pass
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._waiters: list[asyncio.Future[bool]] = []  # resolved when a pass ends

    # Feeding: never blocks, never fails.

    def put(self, address: CmdbAddress) -> None:
        """The CMDB should hold ``address`` for ``address.task``."""
        if self.desired.get(address.task) != address:
            self.desired[address.task] = address
            self._touch(address.task)

    def remove(self, task: str) -> None:
        """The CMDB should hold no address for ``task``."""
        if self.desired.pop(task, None) is not None or task in self.written:
            self._touch(task)

    def replace(self, desired: Mapping[str, CmdbAddress]) -> None:
        """The whole mapping: tasks absent from ``desired`` are removed."""
        for task in set(self.desired) - set(desired):
            self.remove(task)
        for address in desired.values():
            self.put(address)

    def _touch(self, task: str) -> None:
        self.dirty.add(task)
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> list[Change]:
        """What the next pass would write (after the CMDB is listed, if not yet)."""
        return changes(self.desired, self.written, self.dirty)

    @property
    def in_step(self) -> bool:
        return self.listed and not self.pending

    # Writing.

    async def sync_once(self) -> bool:
        """One pass; True when every change was applied, False when something failed."""
        ok = await self._pass()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(ok)
        return ok

    async def next_pass(self) -> bool:
        """Start a pass soon and wait until one ends; its outcome (as :meth:`sync_once`)."""
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        return await waiter

    async def _pass(self) -> bool:
        try:
            if not self.listed:
                await self._list()
            failed = False
            for change in self.pending:
                failed |= not await self._apply(change)
        except CmdbUnavailable as exc:
            if self.outage_since is None:
                self.outage_since = self._clock.now()
                logger.warning(
                    "CMDB write-back waits until the CMDB answers (retried with backoff): "
                    "%s (%d tasks pending)",
                    exc,
                    len(self.dirty),
                )
            else:
                logger.debug("CMDB still unreachable: %s", exc)
            self.last_error = exc
            return False
        finally:  # keep what still differs, including tasks touched during the pass
            self.dirty = {t for t in self.dirty if self.desired.get(t) != self.written.get(t)}
        if self.outage_since is not None:
            logger.info(
                "CMDB answers again after %.1f s; write-back caught up (%d tasks pending)",
                self._clock.now() - self.outage_since,
                len(self.dirty),
            )
            self.outage_since = None
        if not failed:
            self.last_error = None
        if self.in_step:
            self._idle.set()
        return not failed

    async def _list(self) -> None:
        found = await self._cmdb.list_addresses()
        self.written = {address.task: address for address in found}
        self.dirty |= set(self.written) | set(self.desired)
        self.listed = True
        logger.info("CMDB lists %d container addresses", len(self.written))

    async def _apply(self, change: Change) -> bool:
        """Write one change; False when the CMDB refused it (CmdbUnavailable propagates)."""
        task = change.task if isinstance(change, Remove) else change.address.task
        try:
            if isinstance(change, Put):
                await self._cmdb.put_address(change.address)
                self.written[task] = change.address
            else:
                await self._cmdb.delete_address(task)
                self.written.pop(task, None)
        except CmdbUnavailable:
            raise
        except CmdbError as exc:
            repeated = self.failures.get(task) == str(exc)  # logged when it first happened
            log = logger.debug if repeated else logger.warning
            log("CMDB write-back of task %s refused: %s", task, exc)
            self.failures[task] = str(exc)
            self.last_error = exc
            return False
        self.failures.pop(task, None)
        logger.debug("CMDB write-back: %s", change)
        return True

    async def run(self) -> None:
        """Pass after pass, forever: whenever something is dirty, and after failures
        with exponential backoff. Cancel the task to stop."""
        delay = self.settings.backoff
        self._wake.set()  # the first pass lists the CMDB
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                ok = await self.sync_once()
            except Exception:  # a bug must not end the write-back; the next pass retries
                logger.exception("CMDB write-back pass failed")
                ok = False
            if ok:
                delay = self.settings.backoff
                continue
            await self._clock.sleep(delay)
            delay = min(delay * 2, self.settings.backoff_max)
            self._wake.set()

    async def wait_in_step(self) -> None:
        """Until a pass leaves the CMDB in step; use with a deadline (``asyncio.timeout``)."""
        while not self.in_step:
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()
