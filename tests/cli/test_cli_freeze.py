"""``dcosctl apply`` refuses App changes other than instances while the Domain is frozen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import Result

from adapters.etcd import EtcdSettings, open_store
from adapters.protocols import ObjectKey
from crds.app import App

Cli = Callable[..., Result]

DOMAIN = """\
apiVersion: dcos/v1
kind: Domain
metadata:
  name: checkout
spec:
  timezone: Asia/Shanghai
  freezeWindows:
    - name: sale-10am
      start: "{start}"
      end: "{end}"
"""

APP = """\
apiVersion: dcos/v1
kind: App
metadata:
  name: cart
  domain: checkout
spec:
  image: {image}
  instances: {instances}
"""


def app_of(endpoint: str, prefix: str) -> App:
    async def go() -> App:
        async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=prefix)) as store:
            got = await store.get(ObjectKey("App", "checkout", "cart"))
            assert isinstance(got, App)
            return got

    return asyncio.run(go())


def test_frozen_domain_refuses_image_change_but_not_instances(
    dcosctl: Cli,
    check_error: Callable[..., str],
    etcd_endpoint: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    domain, app = tmp_path / "domain.yaml", tmp_path / "app.yaml"
    # The window is not open yet: the App is created freely.
    later = (now + timedelta(days=1), now + timedelta(days=1, hours=1))
    domain.write_text(DOMAIN.format(start=later[0].isoformat(), end=later[1].isoformat()))
    app.write_text(APP.format(image="shop/cart:1.0", instances=2))
    assert dcosctl("apply", "-f", str(domain), "-f", str(app)).exit_code == 0
    domain.write_text(DOMAIN.format(start=start.isoformat(), end=end.isoformat()))
    assert dcosctl("apply", "-f", str(domain)).exit_code == 0

    app.write_text(APP.format(image="shop/cart:2.0", instances=2))
    shown = end.astimezone(ZoneInfo("Asia/Shanghai"))
    for dry in ((), ("--dry-run",)):
        line = check_error(dcosctl("apply", "-f", str(app), *dry))
        assert line == (
            f"error: {app}: App checkout/cart: refused: domain checkout is frozen by window "
            f"sale-10am until {shown:%Y-%m-%d %H:%M} +08:00 (only instances may change)"
        )
    assert app_of(etcd_endpoint, prefix).spec.image == "shop/cart:1.0"

    app.write_text(APP.format(image="shop/cart:1.0", instances=9))
    result = dcosctl("apply", "-f", str(app))
    assert result.exit_code == 0, result.output
    assert app_of(etcd_endpoint, prefix).spec.instances == 9
    scaled = dcosctl("scale", "app", "cart", "-d", "checkout", "--instances", "5")
    assert scaled.exit_code == 0, scaled.output
    assert app_of(etcd_endpoint, prefix).spec.instances == 5
