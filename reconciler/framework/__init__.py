"""The Mesos framework of the controller manager.

One framework per manager (v1 scheduler API through
:class:`adapters.protocols.MesosScheduler`, MULTI_ROLE), running only while
the manager leads. From the bottom up:

- :mod:`.settings` — :class:`FrameworkSettings` (name, failover timeout, offer hold);
- :mod:`.queue` — :class:`LaunchQueue`: instances waiting for an offer;
- :mod:`.offers` — :class:`OfferPool`: held offers, converted for placement;
- :mod:`.addresses` — :class:`Addresses`: the IPPool of each instance, free addresses
  for placement, allocation before the record, release once it ended;
- :mod:`.launches` — a placed request as a plain :class:`~adapters.protocols.TaskLaunch`;
- :mod:`.matcher` — :class:`OfferMatcher`: one placement pass over the held offers;
- :mod:`.updates` — :func:`apply_update`: what a status update does to a record;
- :mod:`.framework` — :class:`MesosFramework`: subscription, matcher, status updates,
  reconciliation.

Records live in :mod:`reconciler.apps.records`; the wire values are built by
the injected :class:`~adapters.protocols.MesosCodec`. ``docs/apps-controller.md``
tells the whole story; the next hop is :mod:`reconciler.controllers.app`.
"""

from reconciler.framework.addresses import Addresses, AddressView
from reconciler.framework.framework import MesosFramework
from reconciler.framework.launches import LABEL_APP, LABEL_DOMAIN, LABEL_VERSION, task_launch
from reconciler.framework.matcher import Match, OfferMatcher
from reconciler.framework.offers import OfferPool
from reconciler.framework.queue import LaunchQueue, LaunchRequest
from reconciler.framework.settings import FrameworkSettings
from reconciler.framework.updates import Outcome, apply_update

__all__ = [
    "LABEL_APP",
    "LABEL_DOMAIN",
    "LABEL_VERSION",
    "AddressView",
    "Addresses",
    "FrameworkSettings",
    "LaunchQueue",
    "LaunchRequest",
    "Match",
    "MesosFramework",
    "OfferMatcher",
    "OfferPool",
    "Outcome",
    "apply_update",
    "task_launch",
]
