"""The NetBox REST API subset: routes, token auth, filters, pagination and errors.

Every response has NetBox's shape, so the production client
(:mod:`adapters.cmdb`) cannot tell this service from NetBox for the calls it
makes:

- auth: ``Authorization: Token <key>``; without it 403 ``{"detail":
  "Authentication credentials were not provided."}``, with a wrong key 403
  ``{"detail": "Invalid token"}``. ``/api/status/`` needs no token.
- lists: ``{"count", "next", "previous", "results"}`` with ``limit`` (default
  50, at most 1000, 0 meaning the most) and ``offset``; ``next``/``previous``
  are absolute URLs keeping the other query parameters, as Django REST
  framework's ``LimitOffsetPagination`` builds them.
- filters: repeated values are ORed (``?status=active&status=staged``); an
  unknown choice or slug is 400 with the filter's field error.
- writes: 400 ``{"field": ["message"]}`` for invalid fields; PATCH merges
  ``custom_fields`` with the stored ones, as NetBox does; DELETE is 204.

Storage is :class:`~.db.NetboxDb`; the server around it is :mod:`.server`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from localcluster.netbox.db import DEVICE_STATUSES, IP_STATUSES, NetboxDb, Query

__all__ = ["DEVICE_CUSTOM_FIELDS", "IP_CUSTOM_FIELDS", "NETBOX_VERSION", "routes"]

logger = logging.getLogger(__name__)

NETBOX_VERSION = "4.1.0"
DEVICE_CUSTOM_FIELDS = ("domain",)
IP_CUSTOM_FIELDS = ("host", "app", "task")
_DEFAULT_LIMIT = 50
_MAX_LIMIT = 1000

Endpoint = Callable[[Request], Awaitable[Response]]


class FieldErrors(Exception):
    """A 400 response: field name → messages, as NetBox renders validation errors."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(json.dumps(errors))


def _db(request: Request) -> NetboxDb:
    db: NetboxDb = request.app.state.db
    return db


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _detail(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _authenticated(endpoint: Endpoint) -> Endpoint:
    """NetBox's token check, in front of every endpoint but ``/api/status/``."""

    async def checked(request: Request) -> Response:
        keyword, _, key = request.headers.get("authorization", "").partition(" ")
        if keyword.lower() != "token" or not key.strip():
            return _detail(403, "Authentication credentials were not provided.")
        if not secrets.compare_digest(key.strip(), request.app.state.token):
            return _detail(403, "Invalid token")
        try:
            return await endpoint(request)
        except FieldErrors as exc:
            return JSONResponse(exc.errors, status_code=400)

    return checked


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as exc:
        raise FieldErrors({"detail": [f"JSON parse error - {exc}"]}) from exc
    if not isinstance(data, dict):
        raise FieldErrors({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    return data


def _page(request: Request, ids: list[int], render: Callable[[int], dict[str, Any]]) -> Response:
    """One page of ``ids`` in NetBox's list envelope."""
    params = request.query_params
    try:
        limit = int(params.get("limit", _DEFAULT_LIMIT))
        offset = max(0, int(params.get("offset", 0)))
    except ValueError:
        limit, offset = _DEFAULT_LIMIT, 0
    limit = _MAX_LIMIT if limit <= 0 else min(limit, _MAX_LIMIT)
    base = f"{_base(request)}{request.url.path}"
    kept = [(k, v) for k, v in params.multi_items() if k not in ("limit", "offset")]

    def link(at: int) -> str:
        extra = [("limit", str(limit))] + ([("offset", str(at))] if at > 0 else [])
        return f"{base}?{urlencode(kept + extra)}"

    count = len(ids)
    return JSONResponse(
        {
            "count": count,
            "next": link(offset + limit) if offset + limit < count else None,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "results": [render(i) for i in ids[offset : offset + limit]],
        }
    )


def _object_id(request: Request) -> int:
    return int(request.path_params["id"])


# Reference lookups shared by filters and writes.


def _slug_filter(db: NetboxDb, request: Request, kind: str, param: str, q: Query, col: str) -> None:
    slugs = request.query_params.getlist(param)
    ids = []
    for slug in slugs:
        found = db.ref_id_by_slug(kind, slug)
        if found is None:
            raise FieldErrors(
                {param: [f"Select a valid choice. {slug} is not one of the available choices."]}
            )
        ids.append(found)
    q.any_of(col, ids)


def _ref(db: NetboxDb, kind: str, field: str, value: Any) -> int | None:
    """A related object given as an id or as ``{"id"|"slug"|"name": ...}``."""
    if value is None:
        return None
    if isinstance(value, dict):
        if "id" in value:
            value = value["id"]
        else:
            key = next((k for k in ("slug", "name") if k in value), None)
            found = None if key is None else db.ref_id_by_slug(kind, str(value[key]))
            if found is None:
                raise FieldErrors(
                    {field: [f"Related object not found using the provided attributes: {value}"]}
                )
            return found
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldErrors(
            {field: [f"Incorrect type. Expected pk value, received {type(value).__name__}."]}
        )
    if not db.ref_exists(kind, value):
        raise FieldErrors(
            {field: [f"Related object not found using the provided numeric ID: {value}"]}
        )
    return value


def _choice(field: str, value: Any, choices: dict[str, str]) -> str:
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, str) or value not in choices:
        raise FieldErrors({field: [f'"{value}" is not a valid choice.']})
    return value


def _custom_fields(value: Any, known: tuple[str, ...], stored: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldErrors({"custom_fields": ["Invalid data. Expected a dictionary."]})
    for name in value:
        if name not in known:
            raise FieldErrors(
                {"custom_fields": [f"Unknown field name '{name}' in custom field data."]}
            )
    return {**{name: None for name in known}, **stored, **value}


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldErrors({field: ["Not a valid string."]})
    return value


# Sites, racks, roles, tags.


def _ref_collection(kind: str, required: tuple[str, ...]) -> Endpoint:
    async def collection(request: Request) -> Response:
        db = _db(request)
        if request.method == "POST":
            data = await _body(request)
            missing = {f: ["This field is required."] for f in required if f not in data}
            if missing:
                raise FieldErrors(missing)
            fields: dict[str, Any] = {f: _text(f, data[f]) for f in required if f != "site"}
            if kind == "rack":
                fields["site_id"] = _ref(db, "site", "site", data["site"])
            try:
                new_id = db.create_ref(kind, fields)
            except sqlite3.IntegrityError as exc:
                raise FieldErrors({"name": [f"{kind} with this name already exists."]}) from exc
            return JSONResponse(db.nested(kind, new_id, _base(request)), status_code=201)
        q = Query()
        for param in ("name", "slug") if kind != "rack" else ("name",):
            q.any_of(param, request.query_params.getlist(param))
        ids = db.ref_ids(kind, q)
        return _page(request, ids, lambda i: db.nested(kind, i, _base(request)) or {})

    return collection


def _ref_object(kind: str) -> Endpoint:
    async def one(request: Request) -> Response:
        found = _db(request).nested(kind, _object_id(request), _base(request))
        return _detail(404, "Not found.") if found is None else JSONResponse(found)

    return one


# Devices.


def _device_filters(db: NetboxDb, request: Request) -> Query:
    params = request.query_params
    q = Query()
    for status in params.getlist("status"):
        if status not in DEVICE_STATUSES:
            raise FieldErrors(
                {
                    "status": [
                        f"Select a valid choice. {status} is not one of the available choices."
                    ]
                }
            )
    q.any_of("d.status", params.getlist("status"))
    q.any_of("d.name", params.getlist("name"))
    q.any_of("d.id", [int(v) for v in params.getlist("id") if v.isdigit()])
    _slug_filter(db, request, "role", "role", q, "d.role_id")
    _slug_filter(db, request, "site", "site", q, "d.site_id")
    q.any_of("d.site_id", [int(v) for v in params.getlist("site_id") if v.isdigit()])
    q.any_of("d.rack_id", [int(v) for v in params.getlist("rack_id") if v.isdigit()])
    for slug in params.getlist("tag"):  # NetBox ANDs tags: every one must be present
        tag = db.ref_id_by_slug("tag", slug)
        if tag is None:
            raise FieldErrors(
                {"tag": [f"Select a valid choice. {slug} is not one of the available choices."]}
            )
        q.where.append("d.id IN (SELECT device_id FROM device_tags WHERE tag_id = ?)")
        q.params.append(tag)
    for name in DEVICE_CUSTOM_FIELDS:
        q.any_of(f"json_extract(d.custom_fields, '$.{name}')", params.getlist(f"cf_{name}"))
    return q


def _device_fields(
    db: NetboxDb, data: dict[str, Any], stored: dict[str, Any] | None, device_id: int | None
) -> tuple[dict[str, Any], list[int] | None]:
    """Validated columns (and tag ids, None when not given) of a device POST or PATCH."""
    if "device_role" in data and "role" not in data:  # NetBox 3.x spelling
        data["role"] = data.pop("device_role")
    if stored is None:
        missing = {
            f: ["This field is required."] for f in ("name", "role", "site") if f not in data
        }
        if missing:
            raise FieldErrors(missing)
    fields: dict[str, Any] = {}
    if "name" in data:
        name = _text("name", data["name"])
        if db.device_name_taken(name, other_than=device_id):
            raise FieldErrors({"name": ["Device name must be unique per site."]})
        fields["name"] = name
    for kind in ("role", "site", "rack"):
        if kind in data:
            fields[f"{kind}_id"] = _ref(db, kind, kind, data[kind])
    for kind in ("role", "site"):
        if f"{kind}_id" in fields and fields[f"{kind}_id"] is None:
            raise FieldErrors({kind: ["This field may not be null."]})
    if "status" in data or stored is None:
        fields["status"] = _choice("status", data.get("status", "active"), DEVICE_STATUSES)
    for text in ("serial", "description"):
        if text in data:
            fields[text] = _text(text, data[text])
    if "primary_ip4" in data:
        ip = data["primary_ip4"]
        ip = ip.get("id") if isinstance(ip, dict) else ip
        if ip is not None and (not isinstance(ip, int) or db.ip_row(ip) is None):
            raise FieldErrors(
                {"primary_ip4": [f"Related object not found using the provided numeric ID: {ip}"]}
            )
        fields["primary_ip4_id"] = ip
    if "custom_fields" in data or stored is None:
        fields["custom_fields"] = _custom_fields(
            data.get("custom_fields", {}), DEVICE_CUSTOM_FIELDS, stored or {}
        )
    tags = None
    if "tags" in data:
        if not isinstance(data["tags"], list):
            raise FieldErrors({"tags": ['Expected a list of items but got type "dict".']})
        tags = [_ref(db, "tag", "tags", tag) or 0 for tag in data["tags"]]
    return fields, tags


async def devices(request: Request) -> Response:
    db = _db(request)
    base = _base(request)
    if request.method == "POST":
        fields, tags = _device_fields(db, await _body(request), None, None)
        new_id = db.write_device(None, fields, tags)
        row = db.device_row(new_id)
        assert row is not None
        return JSONResponse(db.render_device(row, base), status_code=201)
    ids = db.device_ids(_device_filters(db, request))

    def render(i: int) -> dict[str, Any]:
        row = db.device_row(i)
        assert row is not None
        return db.render_device(row, base)

    return _page(request, ids, render)


async def device(request: Request) -> Response:
    db = _db(request)
    device_id = _object_id(request)
    row = db.device_row(device_id)
    if row is None:
        return _detail(404, "Not found.")
    if request.method == "DELETE":
        db.delete("devices", device_id)
        return Response(status_code=204)
    if request.method == "PATCH":
        stored = json.loads(row["custom_fields"])
        fields, tags = _device_fields(db, await _body(request), stored, device_id)
        db.write_device(device_id, fields, tags)
        row = db.device_row(device_id)
        assert row is not None
    return JSONResponse(db.render_device(row, _base(request)))


# IP addresses.


def _ip_filters(request: Request) -> Query:
    params = request.query_params
    q = Query()
    hosts = []
    for value in params.getlist("address"):
        try:
            hosts.append(str(ipaddress.ip_interface(value).ip))
        except ValueError as exc:
            raise FieldErrors(
                {"address": [f"Enter a valid IPv4 or IPv6 address: {value}"]}
            ) from exc
    q.any_of("substr(address, 1, instr(address, '/') - 1)", hosts)
    q.any_of("status", params.getlist("status"))
    q.any_of("dns_name", params.getlist("dns_name"))
    q.any_of("id", [int(v) for v in params.getlist("id") if v.isdigit()])
    for name in IP_CUSTOM_FIELDS:
        q.any_of(f"json_extract(custom_fields, '$.{name}')", params.getlist(f"cf_{name}"))
    return q


def _ip_fields(data: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    if stored is None and "address" not in data:
        raise FieldErrors({"address": ["This field is required."]})
    fields: dict[str, Any] = {}
    if "address" in data:
        value = data["address"]
        if not isinstance(value, str) or "/" not in value:
            raise FieldErrors({"address": ["Please specify a mask length (e.g. 10.1.2.3/32)."]})
        try:
            interface = ipaddress.ip_interface(value)
        except ValueError as exc:
            raise FieldErrors({"address": [f"Invalid IP address format: {value}"]}) from exc
        fields["address"] = str(interface)
    if "status" in data or stored is None:
        fields["status"] = _choice("status", data.get("status", "active"), IP_STATUSES)
    for text in ("dns_name", "description"):
        if text in data:
            fields[text] = _text(text, data[text])
    if "custom_fields" in data or stored is None:
        fields["custom_fields"] = _custom_fields(
            data.get("custom_fields", {}), IP_CUSTOM_FIELDS, stored or {}
        )
    return fields


async def ip_addresses(request: Request) -> Response:
    db = _db(request)
    base = _base(request)
    if request.method == "POST":
        new_id = db.write_ip(None, _ip_fields(await _body(request), None))
        row = db.ip_row(new_id)
        assert row is not None
        return JSONResponse(db.render_ip(row, base), status_code=201)

    def render(i: int) -> dict[str, Any]:
        row = db.ip_row(i)
        assert row is not None
        return db.render_ip(row, base)

    return _page(request, db.ip_ids(_ip_filters(request)), render)


async def ip_address(request: Request) -> Response:
    db = _db(request)
    ip_id = _object_id(request)
    row = db.ip_row(ip_id)
    if row is None:
        return _detail(404, "Not found.")
    if request.method == "DELETE":
        db.delete("ip_addresses", ip_id)
        return Response(status_code=204)
    if request.method == "PATCH":
        db.write_ip(ip_id, _ip_fields(await _body(request), json.loads(row["custom_fields"])))
        row = db.ip_row(ip_id)
        assert row is not None
    return JSONResponse(db.render_ip(row, _base(request)))


async def status(request: Request) -> Response:
    return JSONResponse(
        {
            "django-version": "5.0.9",
            "installed-apps": {},
            "netbox-version": NETBOX_VERSION,
            "plugins": {},
            "python-version": "3.11",
            "rq-workers-running": 0,
        }
    )


def routes() -> list[Route]:
    read_write = ["GET", "POST"]
    one = ["GET", "PATCH", "DELETE"]
    refs = [
        ("dcim/sites", "site", ("name", "slug")),
        ("dcim/racks", "rack", ("name", "site")),
        ("dcim/device-roles", "role", ("name", "slug")),
        ("extras/tags", "tag", ("name", "slug")),
    ]
    out = [Route("/api/status/", status, methods=["GET"])]
    for path, kind, required in refs:
        out.append(
            Route(
                f"/api/{path}/", _authenticated(_ref_collection(kind, required)), methods=read_write
            )
        )
        out.append(
            Route(f"/api/{path}/{{id:int}}/", _authenticated(_ref_object(kind)), methods=["GET"])
        )
    out += [
        Route("/api/dcim/devices/", _authenticated(devices), methods=read_write),
        Route("/api/dcim/devices/{id:int}/", _authenticated(device), methods=one),
        Route("/api/ipam/ip-addresses/", _authenticated(ip_addresses), methods=read_write),
        Route("/api/ipam/ip-addresses/{id:int}/", _authenticated(ip_address), methods=one),
    ]
    return out
