"""How to reach etcd: endpoints, key prefix, credentials, TLS, limits.

One frozen dataclass, passed explicitly to :func:`adapters.etcd.open_store`;
nothing here is read from module globals or the environment (the CLI maps
``--etcd``/``DCOS_ETCD`` onto ``endpoints``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Endpoint", "EtcdSettings", "parse_endpoint"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EtcdSettings:
    endpoints: tuple[str, ...] = ("http://127.0.0.1:2379",)
    """Client URLs tried in order; the first that answers is used."""
    prefix: str = "/dcos"
    """Every key lives under this prefix, so several installations can share one etcd."""
    username: str | None = None
    """etcd user; set together with ``password``."""
    password: str | None = field(default=None, repr=False)
    """Never in ``repr()``, so never in a log line or a traceback's locals."""
    ca_file: str | None = None
    """PEM CA bundle that signs the server certificate; implies TLS."""
    cert_file: str | None = None
    """PEM client certificate for mutual TLS; set together with ``key_file``."""
    key_file: str | None = None
    timeout: float = 5.0
    """Seconds any one etcd call may take before it counts as unavailable."""
    max_txn_ops: int = 128
    """etcd's ``--max-txn-ops``: the most puts/deletes one transaction may carry."""
    event_ttl: int = 3600
    """Seconds an event is kept (the TTL of the etcd lease it is written on)."""

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("EtcdSettings.endpoints must name at least one endpoint")
        if (self.username is None) != (self.password is None):
            raise ValueError("EtcdSettings: set username and password together")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("EtcdSettings: set cert_file and key_file together")
        if self.max_txn_ops < 2:
            raise ValueError("EtcdSettings.max_txn_ops must be at least 2")
        if self.timeout <= 0 or self.event_ttl <= 0:
            raise ValueError("EtcdSettings.timeout and event_ttl must be positive")
        for endpoint in self.endpoints:
            parse_endpoint(endpoint)

    @property
    def tls(self) -> bool:
        return self.ca_file is not None or self.cert_file is not None


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


def parse_endpoint(text: str, *, tls: bool = False) -> Endpoint:
    """``http://host:port``, ``https://host:port`` or ``host:port`` (TLS when ``tls``)."""
    url = urlsplit(text if "://" in text else f"{'https' if tls else 'http'}://{text}")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"etcd endpoint {text!r} is not http(s)://host:port")
    try:
        port = url.port or 2379
    except ValueError as exc:
        raise ValueError(f"etcd endpoint {text!r} has an invalid port") from exc
    return Endpoint(url.hostname, port, url.scheme == "https" or tls)
