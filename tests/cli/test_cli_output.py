"""Tables, ages and cells, without etcd."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import crds.kinds  # noqa: F401  (registers the kinds)
from cli.commands.get import table_columns, table_headers, table_row
from cli.output import ELLIPSIS, cell, format_age, lookup, render_table
from crds.app import App
from crds.registry import parse_object

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        pytest.param(timedelta(seconds=-5), "0s", id="future"),
        pytest.param(timedelta(seconds=42), "42s", id="seconds"),
        pytest.param(timedelta(minutes=5), "5m", id="minutes"),
        pytest.param(timedelta(hours=3), "3h", id="hours"),
        pytest.param(timedelta(days=2), "2d", id="days"),
        pytest.param(timedelta(days=800), "2y", id="years"),
    ],
)
def test_format_age(ago: timedelta, expected: str) -> None:
    assert format_age(NOW - ago, NOW) == expected


def test_cells() -> None:
    assert cell(None) == "<none>"
    assert cell(True) == "true"
    assert cell(["a", "b"]) == "a,b"
    assert cell({"rack": "r1"}) == "rack=r1"
    assert cell(2.5) == "2.5"
    assert cell(46.0) == "46"


def _app(name: str, image: str = "busybox:1") -> App:
    obj = parse_object(
        {
            "apiVersion": "dcos/v1",
            "kind": "App",
            "metadata": {
                "name": name,
                "domain": "shop",
                "creationTimestamp": "2026-11-26T09:55:00Z",
            },
            "spec": {"image": image, "instances": 3, "ipPool": "v110"},
        }
    )
    assert isinstance(obj, App)
    return obj


def test_lookup_follows_wire_names() -> None:
    app = _app("web")
    assert lookup(app, "spec.instances") == 3
    assert lookup(app, "spec.ipPool") == "v110"
    assert lookup(app, "status.readyInstances") is None
    assert lookup(app, "spec.nothing.here") is None


def test_table_is_aligned_with_three_spaces() -> None:
    text, _ = render_table(["NAME", "X"], [["a", "1"], ["longer", "22"]])
    assert text.splitlines() == ["NAME     X", "a        1", "longer   22"]


def test_table_cuts_the_widest_column_to_fit() -> None:
    rows = [["web", "registry.example.com/a/very/long/image/name:1.2.3", "3"]]
    text, widths = render_table(["NAME", "IMAGE", "N"], rows, width=30)
    assert all(len(line) <= 30 for line in text.splitlines())
    assert text.splitlines()[1].split()[1].endswith(ELLIPSIS)
    assert widths[0] == 4


def test_app_rows() -> None:
    headers = table_headers(App, show_domain=True, wide=True)
    columns = table_columns(App, wide=True)
    row = table_row(_app("web").to_wire(), columns, show_domain=True, now=NOW)
    assert dict(zip(headers, row, strict=True)) == {
        "DOMAIN": "shop",
        "NAME": "web",
        "INSTANCES": "3",
        "READY": "<none>",
        "HEALTHY": "<none>",
        "IMAGE": "busybox:1",
        "POOL": "v110",
        "CPUS": "1",
        "MEM": "128",
        "AGE": "5m",
    }


def test_ten_thousand_rows_render_aligned_within_the_width() -> None:
    apps = [_app(f"app-{i}").to_wire() for i in range(10_000)]
    headers = table_headers(App, show_domain=True, wide=False)
    columns = table_columns(App, wide=False)
    rows = [table_row(a, columns, show_domain=True, now=NOW) for a in apps]
    text, _ = render_table(headers, rows, width=120)
    lines = text.splitlines()
    assert len(lines) == 10_001
    assert all(len(line) <= 120 for line in lines)  # make bench times it
