"""A NetBox-compatible subset of the REST API on SQLite: the embedded CMDB.

It serves what :mod:`adapters.cmdb` uses (devices with their sites, racks,
roles and tags, and IP addresses with custom fields) with NetBox's token
auth, pagination, filters and error shapes. :mod:`.db` stores and renders,
:mod:`.api` routes and validates, :mod:`.server` runs it
(:class:`~.server.LocalNetbox`), and ``python -m localcluster netbox`` serves
it alone.
"""

from localcluster.netbox.server import LocalNetbox, NetboxSettings, seed

__all__ = ["LocalNetbox", "NetboxSettings", "seed"]
