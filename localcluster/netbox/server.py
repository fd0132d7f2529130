"""The NetBox subset as a server: Starlette on uvicorn, in-process or standalone.

:class:`LocalNetbox` is how tests and ``python -m localcluster netbox`` run it::

    async with LocalNetbox(NetboxSettings(db=str(tmp / "cmdb.sqlite"), token=TOKEN)) as netbox:
        netbox.url                     # http://127.0.0.1:PORT
        await netbox.stop()            # an outage; the data stays in the file
        await netbox.start()           # back, on the same port

It binds the socket first (port 0 picks a free one and the port is kept for
restarts), serves from a named task and waits for uvicorn with a deadline,
as :class:`localcluster.mesos.server.LocalMaster` does. :func:`seed` loads
hosts from YAML (see ``docs/cmdb.md``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from starlette.applications import Starlette

from localcluster.netbox.api import routes
from localcluster.netbox.db import NetboxDb, Query
from localcluster.serving import Serving, bind

__all__ = ["LocalNetbox", "NetboxSettings", "build_app", "seed"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetboxSettings:
    """How to run the service."""

    db: str = ":memory:"
    """The SQLite file; ``:memory:`` keeps nothing across a restart."""
    token: str = "0123456789abcdef0123456789abcdef01234567"
    """The one API token accepted (40 hex digits, as NetBox issues them)."""
    host: str = "127.0.0.1"
    """The address to listen on."""
    port: int = 0
    """The port; 0 picks a free one."""


def build_app(db: NetboxDb, token: str) -> Starlette:
    app = Starlette(routes=routes())
    app.state.db = db
    app.state.token = token
    return app


def seed(db: NetboxDb, document: dict[str, Any]) -> int:
    """Create the ``hosts`` of a seed document (and the sites, racks, roles and tags
    they name) unless a device of that name exists; the number created."""
    created = 0
    for host in document.get("hosts", []):
        named = Query()
        named.any_of("d.name", [str(host["name"])])
        if db.device_ids(named):
            continue
        site = db.ensure("site", str(host["site"]))
        rack = db.ensure("rack", str(host["rack"]), site_id=site) if host.get("rack") else None
        fields: dict[str, Any] = {
            "name": host["name"],
            "role_id": db.ensure("role", str(host.get("role", "container-host"))),
            "site_id": site,
            "rack_id": rack,
            "status": host.get("status", "active"),
            "custom_fields": {"domain": host.get("domain")},
        }
        if host.get("address"):
            fields["primary_ip4_id"] = db.write_ip(
                None,
                {
                    "address": f"{host['address']}/32",
                    "status": "active",
                    "custom_fields": {"host": None, "app": None, "task": None},
                },
            )
        tags = [db.ensure("tag", str(tag)) for tag in host.get("tags", [])]
        db.write_device(None, fields, tags)
        created += 1
    return created


class LocalNetbox:
    """The service on 127.0.0.1 for the life of an ``async with``; restartable."""

    def __init__(self, settings: NetboxSettings, *, seed_file: Path | None = None) -> None:
        self.settings = settings
        self._seed_file = seed_file
        self._port = settings.port
        self._db: NetboxDb | None = None
        self._serving: Serving | None = None

    @property
    def db(self) -> NetboxDb:
        if self._db is None:
            raise RuntimeError("LocalNetbox is not started")
        return self._db

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._serving is not None and self._serving.running

    async def start(self) -> None:
        sock = bind(self.settings.host, self._port)
        self._port = sock.getsockname()[1]
        if self._db is None:
            self._db = NetboxDb(self.settings.db)
            if self._seed_file is not None:
                document = yaml.safe_load(self._seed_file.read_text()) or {}
                logger.info("seeded %d hosts", seed(self._db, document))
        self._serving = await Serving.start(
            build_app(self._db, self.settings.token), sock, name="netbox:http"
        )
        logger.info("local NetBox serving on %s", self.url)

    async def stop(self) -> None:
        """Stop serving; the database stays open, so a restart keeps ``:memory:`` data too."""
        if self._serving is not None:
            await self._serving.stop()
        self._serving = None

    async def close(self) -> None:
        await self.stop()
        if self._db is not None:
            self._db.close()
            self._db = None

    async def serve_forever(self) -> None:
        """Serve until cancelled or uvicorn exits (``python -m localcluster netbox``)."""
        assert self._serving is not None
        await self._serving.task

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
