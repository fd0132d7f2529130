"""The container-to-host mapping: instance records in, CMDB addresses out, while leading.

What the CMDB should hold is a pure function of the instance records
(:func:`address_of`, :func:`desired`): one address object per live instance
that has an IP and a host, keyed by its task id (the instance id), with the
host it runs on and its app as ``domain/name``. A terminal instance, or one
not yet placed, has none. Unreachable and Killing instances keep theirs:
their containers may still run and their IPs are still held.

:class:`CmdbMapping` feeds a :class:`~reconciler.cmdb.writeback.WriteBack`
from :class:`~reconciler.apps.records.InstanceRecords`, which the framework
changes while this process leads. It observes the records
(:class:`~reconciler.apps.records.RecordObserver`)::

    records.load()  ──▶ loaded(all)          ──▶ writeback.replace(desired(all))
    records.put()   ──▶ changed(id, record)  ──▶ writeback.put / remove (one record)
    records.remove()──▶ changed(id, None)    ──▶ writeback.remove

Each change costs one comparison of two small values, and nothing at all
without a CMDB (no observer is registered). The write-back runs as a
leader-only runnable (:func:`register`): each term gets a fresh
:class:`WriteBack`, whose first pass lists the CMDB, and the full mapping
(``replace``) as soon as the records of the term are loaded, so a new leader
writes what the last one missed and removes what ended meanwhile. Between
terms changes are dropped: the next term's ``replace`` and listing cover
them.

A CMDB outage delays the write-back and loses nothing (the WriteBack
retries with backoff, logging once per outage). ``/metrics`` shows the lag:

- ``dcos_cmdb_writeback_pending``: tasks whose address is not yet written
  as desired (0 while not leading);
- ``dcos_cmdb_writeback_reachable``: 0 while the CMDB does not answer;
- ``dcos_cmdb_writeback_outage_seconds``: how long it has not answered;
- ``dcos_cmdb_writeback_refused``: tasks whose last write the CMDB refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from ipaddress import AddressValueError, IPv4Address
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

from adapters.protocols import CmdbAddress, CmdbAddresses
from reconciler.apps.instances import Instance
from reconciler.apps.records import InstanceRecords
from reconciler.cmdb.writeback import WriteBack, WriteBackSettings
from reconciler.runtime.clock import Clock, MonotonicClock

if TYPE_CHECKING:
    from reconciler.runtime.manager import Manager

__all__ = ["RUNNABLE", "CmdbMapping", "address_of", "desired", "register"]

logger = logging.getLogger(__name__)

RUNNABLE = "cmdb-writeback"
"""The leader-only runnable's name (its task is ``leader:cmdb-writeback``)."""


def address_of(inst: Instance) -> CmdbAddress | None:
    """The CMDB address of ``inst``; None when it is terminal, not placed or has no IP."""
    if inst.is_terminal or not inst.ip or not inst.hostname:
        return None
    try:
        ip = IPv4Address(inst.ip)
    except AddressValueError:
        logger.warning(
            "instance %s has no IPv4 address (%r); not written to the CMDB",
            inst.instance_id,
            inst.ip,
        )
        return None
    return CmdbAddress(
        task=inst.instance_id, address=ip, host=inst.hostname, app=f"{inst.domain}/{inst.app}"
    )


def desired(instances: Iterable[Instance]) -> dict[str, CmdbAddress]:
    """Task id -> address of every instance that has one (:func:`address_of`)."""
    out: dict[str, CmdbAddress] = {}
    for inst in instances:
        address = address_of(inst)
        if address is not None:
            out[address.task] = address
    return out


class CmdbMapping:
    """Keeps the CMDB's container addresses in step with the records while leading."""

    def __init__(
        self,
        cmdb: CmdbAddresses,
        records: InstanceRecords,
        *,
        settings: WriteBackSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._cmdb = cmdb
        self._records = records
        self._settings = settings or WriteBackSettings()
        self._clock = clock or MonotonicClock()
        self.writeback: WriteBack | None = None
        """This term's queue; None while not leading."""
        self.terms = 0

    # RecordObserver: called by the records, never blocks.

    def loaded(self, records: list[Instance]) -> None:
        if self.writeback is not None:
            self.writeback.replace(desired(records))

    def changed(self, instance_id: str, record: Instance | None) -> None:
        writeback = self.writeback
        if writeback is None:
            return
        address = None if record is None else address_of(record)
        if address is None:
            writeback.remove(instance_id)
        else:
            writeback.put(address)

    # The runnable.

    async def run(self) -> None:
        """One term: a fresh WriteBack fed the full mapping, run until cancelled."""
        writeback = WriteBack(self._cmdb, settings=self._settings, clock=self._clock)
        self.writeback = writeback
        self.terms += 1
        if self._records.loaded:  # else loaded() replaces once the framework has loaded
            writeback.replace(desired(self._records.all()))
        try:
            await writeback.run()
        finally:
            if self.writeback is writeback:
                self.writeback = None

    # Metrics.

    def pending(self) -> float:
        return 0 if self.writeback is None else len(self.writeback.dirty)

    def reachable(self) -> float:
        return float(self.writeback is None or self.writeback.outage_since is None)

    def outage_seconds(self) -> float:
        since = None if self.writeback is None else self.writeback.outage_since
        return 0.0 if since is None else max(0.0, self._clock.now() - since)

    def refused(self) -> float:
        return 0 if self.writeback is None else len(self.writeback.failures)

    def export(self, registry: CollectorRegistry) -> None:
        """Add this mapping's gauges to ``registry`` (read when /metrics is scraped)."""
        gauges: list[tuple[str, str, Callable[[], float]]] = [
            ("pending", "Container addresses not yet written to the CMDB.", self.pending),
            ("reachable", "0 while the CMDB does not answer the write-back.", self.reachable),
            ("outage_seconds", "How long the CMDB has not answered.", self.outage_seconds),
            ("refused", "Container addresses whose last write the CMDB refused.", self.refused),
        ]
        for name, help_text, read in gauges:
            gauge = Gauge(f"dcos_cmdb_writeback_{name}", help_text, registry=registry)
            gauge.set_function(read)


def register(
    manager: Manager,
    *,
    records: InstanceRecords,
    cmdb: CmdbAddresses,
    settings: WriteBackSettings | None = None,
) -> CmdbMapping:
    """Write the records' container-to-host mapping back to ``cmdb`` while ``manager`` leads."""
    mapping = CmdbMapping(cmdb, records, settings=settings, clock=manager.clock)
    records.observe(mapping)
    mapping.export(manager.metrics.registry)
    manager.add_runnable(RUNNABLE, mapping.run)
    return mapping
