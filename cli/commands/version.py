"""``dcosctl version``: this client's version and, when etcd answers, the server's.

The store is opened as every command opens it (the first endpoint that
answers); the server's version is then read from that endpoint's ``/version``
URL, which etcd serves next to its gRPC API without authentication. An
unreachable etcd is reported, not an error: the command still exits 0, so it
can tell what is installed before anything runs.
"""

from __future__ import annotations

import typer

from cli.commands import connection, guard, run
from cli.config import Connection

__all__ = ["client_version", "version"]


def client_version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("simple-dcos")
    except PackageNotFoundError:
        return "unknown (not installed)"


@guard()
def version(ctx: typer.Context) -> None:
    """Print the client version and the etcd server's, if it answers."""
    from crds.errors import AdapterError

    print(f"Client Version: {client_version()}", flush=True)
    conn = connection(ctx)
    try:
        server = run(_server_version(conn))
    except AdapterError as exc:
        server = f"unreachable ({exc})"
    print(f"Server Version: {server}")


async def _server_version(conn: Connection) -> str:
    import asyncio

    from adapters.etcd import open_store
    from cli.config import etcd_settings

    async with open_store(etcd_settings(conn)) as store:
        endpoint = store.endpoint
    number = await asyncio.to_thread(_etcd_version, endpoint, conn)
    return f"etcd {number} at {endpoint}"


def _etcd_version(endpoint: str, conn: Connection) -> str:
    """``etcdserver`` of ``GET <endpoint>/version``; "unknown" if it cannot be read."""
    import json
    import ssl
    import urllib.request

    context = None
    if endpoint.startswith("https://"):
        context = ssl.create_default_context(cafile=conn.ca_file)
        if conn.cert_file and conn.key_file:
            context.load_cert_chain(conn.cert_file, conn.key_file)
    try:
        with urllib.request.urlopen(
            f"{endpoint}/version", timeout=conn.timeout, context=context
        ) as response:
            data = json.load(response)
        return str(data["etcdserver"])
    except (OSError, ValueError, KeyError, TypeError):
        return "(version unknown)"
