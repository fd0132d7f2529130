"""Where things live in etcd, under one configurable prefix.

::

    <prefix>/spec/<Kind>/<domain|_>/<name>     the envelope without status (JSON)
    <prefix>/status/<Kind>/<domain|_>/<name>   the status (JSON)
    <prefix>/events/<Kind>/<domain|_>/<name>/<reason>   an Event, on a lease
    <prefix>/<path>                            raw values (get_raw/put_raw)

``_`` stands for "no domain" (cluster-scoped kinds); it can never clash with
a domain, which is a DNS label. Spec and status keys of one object differ
only in their second segment, so a range read of each, at one revision, pairs
them up by the remainder of the key.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from adapters.etcd.client import prefix_end
from adapters.protocols import ObjectKey

__all__ = ["KeySpace"]

logger = logging.getLogger(__name__)

NO_DOMAIN = "_"


class KeySpace:
    """Builds and parses keys under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.root = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.spec_root = f"{self.root}/spec/".encode()
        self.status_root = f"{self.root}/status/".encode()
        self.events_root = f"{self.root}/events/".encode()

    @staticmethod
    def _tail(key: ObjectKey) -> str:
        return f"{key.kind}/{key.domain or NO_DOMAIN}/{key.name}"

    def spec(self, key: ObjectKey) -> bytes:
        return self.spec_root + self._tail(key).encode()

    def status(self, key: ObjectKey) -> bytes:
        return self.status_root + self._tail(key).encode()

    def spec_prefix(self, kind: str | None, domain: str | None) -> bytes:
        return self.spec_root + self._narrow(kind, domain)

    def status_prefix(self, kind: str | None, domain: str | None) -> bytes:
        return self.status_root + self._narrow(kind, domain)

    @staticmethod
    def _narrow(kind: str | None, domain: str | None) -> bytes:
        if kind is None:
            return b""
        if domain is None:
            return f"{kind}/".encode()
        return f"{kind}/{domain}/".encode()

    def object_range(self) -> tuple[bytes, bytes]:
        """One key range holding every spec and status key (and nothing else we write)."""
        return self.spec_root, prefix_end(self.status_root)

    def parse(self, raw: bytes) -> tuple[bool, ObjectKey] | None:
        """(is_status, key) for a spec or status key; None for any other key."""
        if raw.startswith(self.spec_root):
            is_status, tail = False, raw[len(self.spec_root) :]
        elif raw.startswith(self.status_root):
            is_status, tail = True, raw[len(self.status_root) :]
        else:
            return None
        parts = tail.decode().split("/")
        if len(parts) != 3 or not all(parts):
            return None
        kind, domain, name = parts
        return is_status, ObjectKey(kind, None if domain == NO_DOMAIN else domain, name)

    def event(self, kind: str, domain: str | None, name: str, reason: str = "") -> bytes:
        segments = [kind, domain or NO_DOMAIN, name] + ([reason] if reason else [])
        return (
            self.events_root
            + "/".join(quote(s, safe="") for s in segments).encode()
            + (b"" if reason else b"/")
        )

    def raw(self, path: str) -> bytes:
        path = path.strip("/")
        if not path:
            raise ValueError("a raw path must not be empty")
        first = path.split("/", 1)[0]
        if first in ("spec", "status", "events"):
            raise ValueError(f"raw path {path!r} would write into the {first}/ keys")
        return f"{self.root}/{path}".encode()
