"""``explain``: kinds and field paths rendered from the schemas, and its errors."""

from __future__ import annotations

import pytest

from crds.errors import SpecError
from crds.explain import explain


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("App", id="kind"),
        pytest.param("app", id="short-name"),
        pytest.param("apps", id="plural"),
        pytest.param("APPS", id="upper-case"),
    ],
)
def test_kind_lists_the_envelope_fields(path: str) -> None:
    text = explain(path)
    assert text.startswith("KIND:     App\nVERSION:  dcos/v1\n")
    assert "FIELD:" not in text
    assert "A long-running service of a domain" in text
    for line in ("  apiVersion", "  kind", "  metadata", "  spec", "  status"):
        assert line in text
    assert "spec        <AppSpec>  -required-" in text


def test_array_field_shows_item_type_and_item_fields() -> None:
    text = explain("apps.spec.healthChecks")
    assert "FIELD:    spec.healthChecks <[]HealthCheck>" in text
    assert "Checks deciding whether an instance is healthy" in text
    assert "How Mesos decides an instance is healthy" in text
    assert '  protocol                <string>  default: "HTTP"' in text
    assert "  timeoutSeconds          <integer>  default: 20" in text
    assert "must be shorter than intervalSeconds" in text


def test_leaf_field_has_type_and_description_but_no_fields() -> None:
    text = explain("App.spec.upgradeStrategy.minimumHealthCapacity")
    assert "FIELD:    spec.upgradeStrategy.minimumHealthCapacity <number>" in text
    assert "Share of spec.instances that must stay healthy" in text
    assert "FIELDS:" not in text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("app.spec.healthChecks.protocol", "HTTP, HTTPS, TCP, COMMAND", id="enum"),
        pytest.param("domain.spec.sharedPool.borrow", "Never, WhenExhausted", id="enum-default"),
        pytest.param("host.spec.address", "<string (ipv4)>", id="format"),
        pytest.param("app.spec.mem", "<number | string>", id="size-union"),
        pytest.param("app.spec.ipPool", "<string>", id="optional-unwrapped"),
        pytest.param("app.spec.env", "<map[string]string>", id="map"),
        pytest.param(
            "app.spec.constraints", "<[](Constraint | []string)>", id="marathon-array-form"
        ),
        pytest.param("app.spec.constraints", "  operator  <string>  -required-", id="required"),
        pytest.param(
            "ippool.spec.hostSelector", "  matchExpressions  <[]SelectorRequirement>", id="ref"
        ),
        pytest.param("app.metadata", "  name ", id="metadata"),
        pytest.param(
            "sp.spec.metric",
            "  targetUtilization              <number>  -required-",
            id="nullable",
        ),
        pytest.param(
            "as.spec.template.volumes.perContainerIp", "Append the container's IP", id="deep"
        ),
    ],
)
def test_field_rendering(path: str, expected: str) -> None:
    assert expected in explain(path)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(
            "app.spec.replicas",
            "field 'replicas' does not exist in App.spec; valid fields: args, backoff,",
            id="unknown-field",
        ),
        pytest.param(
            "app.spec.healthChecks.url",
            "does not exist in App.spec.healthChecks; valid fields: command, delaySeconds,",
            id="unknown-in-array-items",
        ),
        pytest.param(
            "app.spec.instances.max",
            "does not exist in App.spec.instances; valid fields: none",
            id="below-a-leaf",
        ),
        pytest.param("app.spec.health_checks", "valid fields:", id="python-name"),
        pytest.param("pods", "unknown kind 'pods'", id="unknown-kind"),
        pytest.param("app..spec", "must look like App or App.spec.instances", id="empty-segment"),
        pytest.param("", "must look like App", id="empty"),
    ],
)
def test_errors_name_the_path_and_the_valid_fields(path: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace(".", r"\.").replace("(", r"\(")):
        explain(path)


def test_unknown_field_error_names_the_full_path() -> None:
    with pytest.raises(SpecError) as caught:
        explain("app.spec.replicas")
    assert caught.value.field == "app.spec.replicas"
    assert "\n" not in str(caught.value)
