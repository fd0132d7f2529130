"""Settings of the Mesos framework, passed in by the composition root."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

__all__ = ["FrameworkSettings"]

logger = logging.getLogger(__name__)

ONE_WEEK = 7 * 24 * 3600.0


@dataclass(frozen=True)
class FrameworkSettings:
    name: str = "simple-dcos"
    """``FrameworkInfo.name``."""
    user: str = "simple-dcos"
    """``FrameworkInfo.user``: the user tasks run as unless they name one."""
    failover_timeout: float = ONE_WEEK
    """Seconds Mesos keeps our tasks after the framework disconnects."""
    checkpoint: bool = True
    """Agents checkpoint our tasks, so they survive an agent restart."""
    offer_hold_seconds: float = 5.0
    """An offer that placed nothing is held this long (new launches may want it)."""
    refuse_seconds: float = 5.0
    """Filter sent with an offer declined while launches are pending, and with the
    unused part of an ACCEPT when nothing is left queued."""
    idle_offers: int = 32
    """Offers kept at hand while nothing is queued, so a replacement launches without
    waiting for Mesos; they are held until used or rescinded (a master's
    ``--offer_timeout`` bounds that). 0: decline every offer and SUPPRESS while idle."""
    idle_refuse_seconds: float = 600.0
    """Filter sent with an offer declined while nothing is pending, beyond ``idle_offers``;
    a REVIVE (launches queued) clears it."""
    accept_concurrency: int = 32
    """ACCEPT calls of one matching pass in flight at once."""
    revive_interval: float = 1.0
    """At most one REVIVE per this many seconds when new launches arrive."""
    reconcile_interval: float = 600.0
    """Explicit reconciliation of records Mesos has not confirmed for this long; also
    how long a KILL of a task with no record is not repeated."""
    unreachable_reconcile_interval: float = 5.0
    """Explicit reconciliation of the Unreachable records this often: a partitioned agent
    that reregisters sends no update for the tasks it kept, so this is how the framework
    learns they run again (and the excess is killed)."""
    tick_seconds: float = 0.25
    """Longest pause of the offer matcher between two passes."""
    call_timeout: float = 10.0
    """Seconds one scheduler call may take."""
    resubscribe_delay: float = 1.0
    """Pause before subscribing again after Mesos ended the subscription."""
    strategy: Literal["spread", "binpack"] = "spread"
    """Ranking of the placement stack."""
    ipam_refresh_seconds: float = 5.0
    """A pool's allocations are listed again when its listing is older than this (blocks
    the IPPool controller claimed meanwhile); our own allocations and releases update it."""
    release_retry_initial: float = 0.5
    """First pause before a failed address release is tried again (doubling each time)."""
    release_retry_max: float = 30.0
    """Longest pause between two tries of a failed address release."""
