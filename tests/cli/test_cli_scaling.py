"""``dcosctl scaling preview``: a sale day's timeline, from files and from etcd."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Cli = Callable[..., Result]

DOMAIN = """\
apiVersion: dcos/v1
kind: Domain
metadata:
  name: checkout
spec:
  timezone: Asia/Shanghai
---
apiVersion: dcos/v1
kind: App
metadata:
  name: cart
  domain: checkout
spec:
  image: shop/cart:1.0
  instances: 4
---
apiVersion: dcos/v1
kind: ScalingPolicy
metadata:
  name: cart
  domain: checkout
spec:
  targetRef:
    name: cart
  schedules:
    - name: sale-10am
      cron: "0 10 * * *"
      instances: 20
      prewarm: 10m
      until: 2h
      rampDown: {steps: 2, interval: 30m}
"""

EXPECTED = [
    "checkout/cart on 2026-11-11 (Asia/Shanghai)",
    "TIME    INSTANCES   WHY",
    "00:00   4           baseline",
    "09:50   20          schedule sale-10am",
    "12:00   10          schedule sale-10am ramp-down 1/2",
    "12:30   4           baseline",
]


def test_preview_from_files(run_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "checkout.yaml"
    path.write_text(DOMAIN)
    args = ("scaling", "preview", "cart", "-d", "checkout", "--date", "2026-11-11")
    result = run_cli(*args, "-f", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == EXPECTED


def test_preview_from_etcd(dcosctl: Cli, tmp_path: Path) -> None:
    path = tmp_path / "checkout.yaml"
    path.write_text(DOMAIN)
    assert dcosctl("apply", "-f", str(path)).exit_code == 0
    result = dcosctl("scaling", "preview", "cart", "-d", "checkout", "--date", "2026-11-11")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == EXPECTED
