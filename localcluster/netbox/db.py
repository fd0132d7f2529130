"""The NetBox subset's storage: one SQLite file (stdlib ``sqlite3``), rendered as NetBox renders it.

Tables mirror the NetBox models the platform reads and writes: sites, racks,
device roles and tags (only as far as devices refer to them), devices and IP
addresses. Custom fields are one JSON column per object, matched with
``json_extract`` for the ``cf_<name>`` filters.

Calls are short and synchronous; the HTTP layer (:mod:`.api`) calls them
directly from its handlers, which is fine for a local service whose data
set is a few thousand rows. Rendering takes the request's base URL, because
NetBox puts absolute ``url`` fields in every object and nested object.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DEVICE_STATUSES",
    "IP_STATUSES",
    "NetboxDb",
    "Query",
]

logger = logging.getLogger(__name__)

DEVICE_STATUSES = {
    "offline": "Offline",
    "active": "Active",
    "planned": "Planned",
    "staged": "Staged",
    "failed": "Failed",
    "inventory": "Inventory",
    "decommissioning": "Decommissioning",
}
IP_STATUSES = {
    "active": "Active",
    "reserved": "Reserved",
    "deprecated": "Deprecated",
    "dhcp": "DHCP",
    "slaac": "SLAAC",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    slug TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS racks (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
    site_id INTEGER NOT NULL REFERENCES sites(id), UNIQUE (site_id, name));
CREATE TABLE IF NOT EXISTS roles (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    slug TEXT UNIQUE NOT NULL, color TEXT NOT NULL DEFAULT '9e9e9e');
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    slug TEXT UNIQUE NOT NULL, color TEXT NOT NULL DEFAULT '9e9e9e');
CREATE TABLE IF NOT EXISTS ip_addresses (id INTEGER PRIMARY KEY, address TEXT NOT NULL,
    status TEXT NOT NULL, dns_name TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
    custom_fields TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL, last_updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (id INTEGER PRIMARY KEY, name TEXT UNIQUE,
    role_id INTEGER NOT NULL REFERENCES roles(id), site_id INTEGER NOT NULL REFERENCES sites(id),
    rack_id INTEGER REFERENCES racks(id), status TEXT NOT NULL,
    primary_ip4_id INTEGER REFERENCES ip_addresses(id) ON DELETE SET NULL,
    serial TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
    custom_fields TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL, last_updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS device_tags (
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags(id), PRIMARY KEY (device_id, tag_id));
"""

# Nested-object tables: (table, API path, has slug).
_NESTED = {
    "site": ("sites", "dcim/sites", True),
    "rack": ("racks", "dcim/racks", False),
    "role": ("roles", "dcim/device-roles", True),
    "tag": ("tags", "extras/tags", True),
}


class Query:
    """A list query: SQL conditions with their parameters, built from filters."""

    def __init__(self) -> None:
        self.where: list[str] = []
        self.params: list[Any] = []

    def any_of(self, column: str, values: Sequence[Any]) -> None:
        """``column`` equals one of ``values`` (NetBox ORs repeated filters)."""
        if values:
            self.where.append(f"{column} IN ({','.join('?' * len(values))})")
            self.params.extend(values)

    def sql(self) -> str:
        return f" WHERE {' AND '.join(self.where)}" if self.where else ""


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class NetboxDb:
    """The SQLite database behind the API; ``path`` ``:memory:`` keeps nothing."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # Reference objects (sites, racks, roles, tags).

    def ensure(self, kind: str, name: str, *, site_id: int | None = None) -> int:
        """The id of the ``kind`` object named ``name``, created if absent (seeding)."""
        table = _NESTED[kind][0]
        if kind == "rack":
            row = self.conn.execute(
                "SELECT id FROM racks WHERE name = ? AND site_id = ?", (name, site_id)
            ).fetchone()
            if row is None:
                cur = self.conn.execute(
                    "INSERT INTO racks (name, site_id) VALUES (?, ?)", (name, site_id)
                )
                return int(cur.lastrowid or 0)
            return int(row["id"])
        row = self.conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row["id"])
        slug = name.lower().replace(" ", "-")
        cur = self.conn.execute(f"INSERT INTO {table} (name, slug) VALUES (?, ?)", (name, slug))
        return int(cur.lastrowid or 0)

    def ref_exists(self, kind: str, ref_id: int) -> bool:
        table = _NESTED[kind][0]
        return (
            self.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ref_id,)).fetchone()
            is not None
        )

    def ref_id_by_slug(self, kind: str, slug: str) -> int | None:
        table = _NESTED[kind][0]
        column = "slug" if _NESTED[kind][2] else "name"
        row = self.conn.execute(f"SELECT id FROM {table} WHERE {column} = ?", (slug,)).fetchone()
        return None if row is None else int(row["id"])

    def create_ref(self, kind: str, fields: Mapping[str, Any]) -> int:
        table = _NESTED[kind][0]
        columns = list(fields)
        cur = self.conn.execute(
            f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})",
            [fields[c] for c in columns],
        )
        return int(cur.lastrowid or 0)

    def ref_ids(self, kind: str, query: Query) -> list[int]:
        table = _NESTED[kind][0]
        rows = self.conn.execute(
            f"SELECT id FROM {table}{query.sql()} ORDER BY id", query.params
        ).fetchall()
        return [int(row["id"]) for row in rows]

    def nested(self, kind: str, ref_id: int | None, base: str) -> dict[str, Any] | None:
        """A nested object as NetBox renders it: id, url, display, name and slug."""
        if ref_id is None:
            return None
        table, path, has_slug = _NESTED[kind]
        row = self.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (ref_id,)).fetchone()
        if row is None:
            return None
        out: dict[str, Any] = {
            "id": row["id"],
            "url": f"{base}/api/{path}/{row['id']}/",
            "display": row["name"],
            "name": row["name"],
        }
        if has_slug:
            out["slug"] = row["slug"]
        if kind == "tag":
            out["color"] = row["color"]
        return out

    # Devices.

    def device_ids(self, query: Query) -> list[int]:
        rows = self.conn.execute(
            f"SELECT d.id FROM devices d{query.sql()} ORDER BY d.name, d.id", query.params
        ).fetchall()
        return [int(row["id"]) for row in rows]

    def device_row(self, device_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(
            "SELECT * FROM devices WHERE id = ?", (device_id,)
        ).fetchone()
        return row

    def device_name_taken(self, name: str, *, other_than: int | None = None) -> bool:
        row = self.conn.execute(
            "SELECT id FROM devices WHERE name = ? AND id != ?", (name, other_than or -1)
        ).fetchone()
        return row is not None

    def write_device(
        self, device_id: int | None, fields: Mapping[str, Any], tags: Iterable[int] | None
    ) -> int:
        """Insert (``device_id`` None) or update a device's columns and, if given, its tags."""
        values = dict(fields)
        values["last_updated"] = _now()
        if "custom_fields" in values:
            values["custom_fields"] = json.dumps(values["custom_fields"], sort_keys=True)
        with self.conn:
            self.conn.execute("BEGIN")
            if device_id is None:
                values["created"] = values["last_updated"]
                columns = list(values)
                cur = self.conn.execute(
                    f"INSERT INTO devices ({','.join(columns)})"
                    f" VALUES ({','.join('?' * len(columns))})",
                    [values[c] for c in columns],
                )
                device_id = int(cur.lastrowid or 0)
            else:
                assignments = ", ".join(f"{c} = ?" for c in values)
                self.conn.execute(
                    f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), device_id]
                )
            if tags is not None:
                self.conn.execute("DELETE FROM device_tags WHERE device_id = ?", (device_id,))
                self.conn.executemany(
                    "INSERT INTO device_tags (device_id, tag_id) VALUES (?, ?)",
                    [(device_id, tag) for tag in sorted(set(tags))],
                )
        return device_id

    def delete(self, table: str, object_id: int) -> bool:
        cur = self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (object_id,))
        return cur.rowcount > 0

    def render_device(self, row: sqlite3.Row, base: str) -> dict[str, Any]:
        tag_rows = self.conn.execute(
            "SELECT tag_id FROM device_tags t JOIN tags ON tags.id = t.tag_id"
            " WHERE device_id = ? ORDER BY tags.name",
            (row["id"],),
        ).fetchall()
        primary = None
        if row["primary_ip4_id"] is not None:
            ip = self.ip_row(int(row["primary_ip4_id"]))
            if ip is not None:
                primary = {
                    "id": ip["id"],
                    "url": f"{base}/api/ipam/ip-addresses/{ip['id']}/",
                    "display": ip["address"],
                    "family": {"value": 4, "label": "IPv4"},
                    "address": ip["address"],
                }
        return {
            "id": row["id"],
            "url": f"{base}/api/dcim/devices/{row['id']}/",
            "display": row["name"] or f"Unnamed device ({row['id']})",
            "name": row["name"],
            "device_type": None,
            "role": self.nested("role", row["role_id"], base),
            "tenant": None,
            "platform": None,
            "serial": row["serial"],
            "asset_tag": None,
            "site": self.nested("site", row["site_id"], base),
            "location": None,
            "rack": self.nested("rack", row["rack_id"], base),
            "position": None,
            "face": None,
            "status": {"value": row["status"], "label": DEVICE_STATUSES[row["status"]]},
            "primary_ip": primary,
            "primary_ip4": primary,
            "primary_ip6": None,
            "description": row["description"],
            "comments": "",
            "tags": [self.nested("tag", int(t["tag_id"]), base) for t in tag_rows],
            "custom_fields": json.loads(row["custom_fields"]),
            "created": row["created"],
            "last_updated": row["last_updated"],
        }

    # IP addresses.

    def ip_ids(self, query: Query) -> list[int]:
        rows = self.conn.execute(
            f"SELECT id FROM ip_addresses{query.sql()} ORDER BY id", query.params
        ).fetchall()
        return [int(row["id"]) for row in rows]

    def ip_row(self, ip_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(
            "SELECT * FROM ip_addresses WHERE id = ?", (ip_id,)
        ).fetchone()
        return row

    def write_ip(self, ip_id: int | None, fields: Mapping[str, Any]) -> int:
        values = dict(fields)
        values["last_updated"] = _now()
        if "custom_fields" in values:
            values["custom_fields"] = json.dumps(values["custom_fields"], sort_keys=True)
        if ip_id is None:
            values["created"] = values["last_updated"]
            columns = list(values)
            cur = self.conn.execute(
                f"INSERT INTO ip_addresses ({','.join(columns)})"
                f" VALUES ({','.join('?' * len(columns))})",
                [values[c] for c in columns],
            )
            return int(cur.lastrowid or 0)
        assignments = ", ".join(f"{c} = ?" for c in values)
        self.conn.execute(
            f"UPDATE ip_addresses SET {assignments} WHERE id = ?", [*values.values(), ip_id]
        )
        return ip_id

    def render_ip(self, row: sqlite3.Row, base: str) -> dict[str, Any]:
        return {
            "id": row["id"],
            "url": f"{base}/api/ipam/ip-addresses/{row['id']}/",
            "display": row["address"],
            "family": {"value": 4, "label": "IPv4"},
            "address": row["address"],
            "vrf": None,
            "tenant": None,
            "status": {"value": row["status"], "label": IP_STATUSES[row["status"]]},
            "role": None,
            "assigned_object_type": None,
            "assigned_object_id": None,
            "assigned_object": None,
            "nat_inside": None,
            "nat_outside": [],
            "dns_name": row["dns_name"],
            "description": row["description"],
            "comments": "",
            "tags": [],
            "custom_fields": json.loads(row["custom_fields"]),
            "created": row["created"],
            "last_updated": row["last_updated"],
        }
