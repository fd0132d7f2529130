"""Debian's headless Chromium through chromedriver, for the dashboard test and bench.

:func:`headless_chromium` starts one browser on a fresh profile with the
flags this kind of machine needs: as root it must run without the sandbox,
and with background networking, component updates and sync off it makes no
connection but the ones the page asks for (a closed network refuses the
rest, many at a time). :func:`missing` names what ``make browser`` has not
installed yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CHROMEDRIVER", "CHROMIUM", "headless_chromium", "missing"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def missing() -> list[str]:
    """The browser's binaries that are not installed."""
    return [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]


def headless_chromium(
    profile: Path, *, width: int, height: int, extra: tuple[str, ...] = ()
) -> Any:
    """A selenium driver of a new headless Chromium whose profile is ``profile``
    (blocking: call it in a thread from async code; ``quit()`` stops both)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*_FLAGS, *extra, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
