"""``dcosctl apply`` refuses an IPPool change that would strand allocated blocks or addresses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path

from typer.testing import Result

from adapters.etcd import EtcdIpam, EtcdSettings, open_store
from adapters.protocols import ObjectKey
from crds.ippool import IPPool

Cli = Callable[..., Result]

POOL = """\
apiVersion: dcos/v1
kind: IPPool
metadata:
  name: v110
spec:
  vlan: 110
  cidr: {cidr}
  gateway: {gateway}
  hostSelector:
    matchLabels:
      vlan: "110"
"""


def write(path: Path, cidr: str = "10.110.0.0/24", gateway: str = "10.110.0.1") -> str:
    path.write_text(POOL.format(cidr=cidr, gateway=gateway))
    return str(path)


def claim(endpoint: str, prefix: str, host: str) -> IPv4Network:
    async def go() -> IPv4Network:
        async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=prefix)) as store:
            got = await EtcdIpam(store).claim_block(
                pool="v110", host=host, candidates=[IPv4Network("10.110.0.16/28")]
            )
            assert got is not None
            return got

    return asyncio.run(go())


def cidr_of(endpoint: str, prefix: str) -> str:
    async def go() -> str:
        async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=prefix)) as store:
            got = await store.get(ObjectKey("IPPool", None, "v110"))
            assert isinstance(got, IPPool)
            return str(got.spec.cidr)

    return asyncio.run(go())


def test_a_change_stranding_a_block_is_refused_and_nothing_written(
    dcosctl: Cli,
    check_error: Callable[..., str],
    etcd_endpoint: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "pool.yaml"
    assert dcosctl("apply", "-f", write(path)).exit_code == 0
    claim(etcd_endpoint, prefix, "sh1-r1-01")
    moved = write(path, cidr="10.111.0.0/24", gateway="10.111.0.1")
    for dry in ((), ("--dry-run",)):
        line = check_error(dcosctl("apply", "-f", moved, *dry))
        assert line == (
            f"error: {moved}: document 1: IPPool v110: the change would strand 1 allocation: "
            "block 10.110.0.16/28 of host sh1-r1-01 is outside the new cidr 10.111.0.0/24"
        )
    assert cidr_of(etcd_endpoint, prefix) == "10.110.0.0/24"
    # a change that keeps every allocation goes through
    grown = write(path, cidr="10.110.0.0/23")
    result = dcosctl("apply", "-f", grown)
    assert result.exit_code == 0, result.output
    assert "IPPool/v110 configured" in result.stdout
    assert cidr_of(etcd_endpoint, prefix) == "10.110.0.0/23"
