"""``python -m localcluster netbox``: serve the NetBox subset alone.

    python -m localcluster netbox --listen 127.0.0.1:8000 --db cmdb.sqlite \\
        --token 0123456789abcdef0123456789abcdef01234567 --seed hosts.yaml

It runs until interrupted. The seed file's hosts are created once (by name).
``--token-file FILE`` reads the token from a file instead (``dcosctl up`` keeps
it in a 0600 file), so that it does not show in ``ps``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from localcluster.netbox.server import LocalNetbox, NetboxSettings

__all__ = ["main", "parser"]

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"^[0-9a-f]{40}$")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m localcluster netbox", description="A NetBox-compatible CMDB subset."
    )
    p.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT to serve on (port 0: any)")
    p.add_argument("--db", default="cmdb.sqlite", help="SQLite file (:memory: keeps nothing)")
    token = p.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="the API token accepted (40 hex digits)")
    token.add_argument("--token-file", type=Path, help="a file holding the token")
    p.add_argument("--seed", type=Path, help="YAML file of hosts to create")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.token_file is not None:
        try:
            args.token = args.token_file.read_text().strip()
        except OSError as exc:
            print(f"--token-file {args.token_file}: cannot read: {exc.strerror}")
            return 2
    if not _TOKEN.fullmatch(args.token):
        print("--token must be 40 lowercase hex digits, as NetBox issues them")
        return 2
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    host, _, port = args.listen.rpartition(":")
    settings = NetboxSettings(db=args.db, token=args.token, host=host, port=int(port))

    async def run() -> None:
        async with LocalNetbox(settings, seed_file=args.seed) as netbox:
            print(f"NetBox API on {netbox.url}/api/", flush=True)
            await netbox.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0
