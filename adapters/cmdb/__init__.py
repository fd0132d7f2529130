"""The CMDB adapter: NetBox's REST API on httpx, behind :class:`adapters.protocols.Cmdb`.

:mod:`.client` holds :class:`NetboxCmdb` (token auth, ``next``-link
pagination, filters, retries with backoff, errors translated at the
boundary) and :mod:`.wire` turns NetBox's JSON into the plain values of
:mod:`adapters.protocols` and back. ``localcluster.netbox`` serves the same
API subset for tests and local clusters.
"""

from adapters.cmdb.client import CmdbSettings, NetboxCmdb

__all__ = ["CmdbSettings", "NetboxCmdb"]
