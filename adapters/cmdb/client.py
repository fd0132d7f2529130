"""An async NetBox client on httpx: the production :class:`adapters.protocols.Cmdb`.

Every request goes through :meth:`NetboxCmdb._request`, the one boundary:

- ``Authorization: Token <token>``, JSON in and out, a timeout per request;
- connection errors, timeouts and 5xx are retried with exponential backoff
  (``retries`` attempts after the first, ``backoff`` doubling up to
  ``backoff_max``) and then raised as :class:`CmdbUnavailable`;
- 4xx is raised at once as :class:`CmdbRejected`, one line naming the
  object and NetBox's first field error, e.g. ``CMDB rejected device
  sh1-r1-01: status: "up" is not a valid choice.``.

Lists follow NetBox's ``next`` links until the last page. Container
addresses are keyed by the ``task`` custom field: :meth:`put_address` reads
by ``cf_task`` and then PATCHes or POSTs, and deletes duplicates left by a
POST retried after a lost response, so it is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from adapters.cmdb.wire import address_body, address_from, device_from, first_error
from adapters.protocols import CmdbAddress, CmdbDevice, DeviceStatus
from crds.errors import CmdbRejected, CmdbUnavailable

__all__ = ["CmdbSettings", "NetboxCmdb"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class CmdbSettings:
    """Where NetBox is and how hard to try."""

    url: str
    """NetBox's base URL, e.g. http://127.0.0.1:8000 (``/api/`` is appended)."""
    token: str
    """The API token."""
    timeout: float = 10.0
    """Seconds per request."""
    retries: int = 3
    """Attempts after the first, for connection errors, timeouts and 5xx."""
    backoff: float = 0.2
    """Seconds before the first retry; doubled each retry."""
    backoff_max: float = 2.0
    """The longest wait between retries."""
    page_size: int = 200
    """``limit`` of each list request."""


class NetboxCmdb:
    """The CMDB on NetBox; ``transport`` and ``sleep`` are for tests."""

    def __init__(
        self,
        settings: CmdbSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,  # None for tests
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=settings.url.rstrip("/") + "/api",
            headers={"Authorization": f"Token {settings.token}", "Accept": "application/json"},
            timeout=settings.timeout,
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # The boundary.

    async def _request(
        self, method: str, url: str, *, what: str, params: Any = None, json: Any = None
    ) -> Any:
        """One call with retries; the decoded body (None for 204)."""
        delay = self.settings.backoff
        for attempt in range(self.settings.retries + 1):
            last = attempt == self.settings.retries
            try:
                response = await self._http.request(method, url, params=params, json=json)
            except httpx.TransportError as exc:
                if last:
                    raise CmdbUnavailable(
                        f"CMDB {self.settings.url} unreachable ({what}): {exc!r}"
                    ) from exc
                logger.debug("CMDB %s %s failed (%r); retrying in %.2fs", method, url, exc, delay)
            else:
                if response.status_code < 400:
                    return None if response.status_code == 204 else response.json()
                if response.status_code < 500:
                    raise self._rejected(response, what)
                if last:
                    raise CmdbUnavailable(
                        f"CMDB {self.settings.url} answered {response.status_code} ({what})"
                    )
                logger.debug("CMDB %s %s: %d; retrying", method, url, response.status_code)
            await self._sleep(delay)
            delay = min(delay * 2, self.settings.backoff_max)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    @staticmethod
    def _rejected(response: httpx.Response, what: str) -> CmdbRejected:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        field, message = first_error(body)
        where = f"{field}: " if field else ""
        return CmdbRejected(
            f"CMDB rejected {what} ({response.status_code}): {where}{message}",
            status=response.status_code,
            field=field,
        )

    async def _list(self, path: str, params: list[tuple[str, str]], *, what: str) -> list[Any]:
        """Every result of a list, following ``next`` links."""
        results: list[Any] = []
        page: Any = await self._request(
            "GET", path, params=[*params, ("limit", str(self.settings.page_size))], what=what
        )
        while True:
            results.extend(page["results"])
            if not page.get("next"):
                return results
            page = await self._request("GET", page["next"], what=what)

    # Devices.

    async def list_devices(
        self,
        *,
        role: str | None = None,
        tag: str | None = None,
        statuses: Sequence[DeviceStatus] = (),
        site: str | None = None,
        domain: str | None = None,
    ) -> list[CmdbDevice]:
        params = [("status", str(status)) for status in statuses]
        for key, value in (("role", role), ("tag", tag), ("site", site), ("cf_domain", domain)):
            if value is not None:
                params.append((key, value))
        found = await self._list("/dcim/devices/", params, what="devices")
        return sorted((device_from(item) for item in found), key=lambda d: d.name)

    async def _device_json(self, name: str) -> dict[str, Any]:
        found = await self._list("/dcim/devices/", [("name", name)], what=f"device {name}")
        if not found:
            raise CmdbRejected(f"CMDB has no device {name}", status=404)
        data: dict[str, Any] = found[0]
        return data

    async def get_device(self, name: str) -> CmdbDevice:
        return device_from(await self._device_json(name))

    async def set_device_status(self, name: str, status: DeviceStatus) -> CmdbDevice:
        device = await self._device_json(name)
        if device["status"]["value"] == status:
            return device_from(device)
        patched = await self._request(
            "PATCH",
            f"/dcim/devices/{device['id']}/",
            json={"status": str(status)},
            what=f"device {name}",
        )
        logger.info("CMDB device %s: status %s", name, status)
        return device_from(patched)

    # Container addresses.

    async def _addresses_of(self, task: str) -> list[dict[str, Any]]:
        return await self._list(
            "/ipam/ip-addresses/", [("cf_task", task)], what=f"ip-address of task {task}"
        )

    async def list_addresses(self, *, host: str | None = None) -> list[CmdbAddress]:
        params = [("cf_host", host)] if host is not None else []
        found = await self._list("/ipam/ip-addresses/", params, what="ip-addresses")
        addresses = (address_from(item) for item in found)
        return sorted((a for a in addresses if a is not None), key=lambda a: a.task)

    async def put_address(self, address: CmdbAddress) -> None:
        what = f"ip-address of task {address.task}"
        body = address_body(address)
        existing = await self._addresses_of(address.task)
        if not existing:
            await self._request("POST", "/ipam/ip-addresses/", json=body, what=what)
            return
        first, *duplicates = sorted(existing, key=lambda item: int(item["id"]))
        if address_from(first) != address or first.get("description") != body["description"]:
            await self._request("PATCH", f"/ipam/ip-addresses/{first['id']}/", json=body, what=what)
        for extra in duplicates:
            await self._delete_ip(int(extra["id"]), what=what)

    async def delete_address(self, task: str) -> None:
        for item in await self._addresses_of(task):
            await self._delete_ip(int(item["id"]), what=f"ip-address of task {task}")

    async def _delete_ip(self, ip_id: int, *, what: str) -> None:
        try:
            await self._request("DELETE", f"/ipam/ip-addresses/{ip_id}/", what=what)
        except CmdbRejected as exc:
            if exc.status != 404:  # deleted meanwhile: the goal is reached
                raise
