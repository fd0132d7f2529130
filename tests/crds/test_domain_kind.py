"""Domain: quota, shared-pool borrowing, priority, Mesos role and timezone."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crds.domain import BorrowPolicy, Domain, DomainSpec


def _domain(name: str = "checkout", **spec: Any) -> Domain:
    return Domain.model_validate(
        {"apiVersion": "dcos/v1", "kind": "Domain", "metadata": {"name": name}, "spec": spec}
    )


def test_defaults_never_borrow_and_limit_nothing() -> None:
    domain = _domain()
    spec = domain.spec
    assert spec.host_selector is None
    assert (spec.quota.cpus, spec.quota.mem, spec.quota.disk, spec.quota.instances) == (
        None,
        None,
        None,
        None,
    )
    assert spec.shared_pool.borrow is BorrowPolicy.NEVER
    assert spec.shared_pool.max_borrow is None
    assert spec.priority == 0
    assert spec.timezone == "UTC"
    assert domain.status.hosts is None


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(None, "checkout", id="defaults-to-name"),
        pytest.param("checkout-prod", "checkout-prod", id="explicit"),
        pytest.param("eng/checkout", "eng/checkout", id="hierarchical"),
    ],
)
def test_mesos_role_defaults_to_the_domain_name(role: str | None, expected: str) -> None:
    spec = {} if role is None else {"role": role}
    assert _domain(**spec).mesos_role == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"role": "-x"}, "is not a Mesos role", id="role-leading-dash"),
        pytest.param({"role": ".."}, "is not a Mesos role", id="role-dotdot"),
        pytest.param({"role": "a b"}, "is not a Mesos role", id="role-space"),
        pytest.param({"role": "a//b"}, "is not a Mesos role", id="role-empty-part"),
        pytest.param({"priority": -1}, "greater than or equal to 0", id="priority-negative"),
        pytest.param({"priority": 1001}, "less than or equal to 1000", id="priority-too-high"),
        pytest.param({"timezone": "Asia/Beijing"}, "not an IANA time zone", id="timezone"),
        pytest.param({"quota": {"cpus": -1}}, "greater than or equal to 0", id="quota-cpus"),
        pytest.param({"quota": {"mem": "1Gb"}}, "look like 512Mi", id="quota-mem-unit"),
        pytest.param({"quota": {"instances": -1}}, "greater than or equal to 0", id="quota-inst"),
        pytest.param({"quota": {"gpus": 1}}, "Extra inputs are not permitted", id="quota-unknown"),
        pytest.param({"sharedPool": {"borrow": "Always"}}, "Never", id="borrow-unknown"),
        pytest.param(
            {"sharedPool": {"borrow": "Never", "maxBorrow": {"cpus": 4}}},
            "maxBorrow is set but borrow is Never",
            id="max-borrow-without-borrowing",
        ),
        pytest.param(
            {"hostSelector": {"matchExpressions": [{"key": "k", "operator": "In"}]}},
            "In needs values",
            id="selector-arity",
        ),
    ],
)
def test_domain_spec_refuses(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DomainSpec.model_validate(spec)


def test_quota_and_borrow_limit_accept_size_strings() -> None:
    spec = DomainSpec.model_validate(
        {
            "quota": {"cpus": 96, "mem": "192Gi", "disk": "4Ti", "instances": 200},
            "sharedPool": {"borrow": "WhenExhausted", "maxBorrow": {"cpus": 8, "mem": "16Gi"}},
            "timezone": "Asia/Shanghai",
        }
    )
    assert spec.quota.mem == 192 * 1024
    assert spec.quota.disk == 4 * 1024 * 1024
    assert spec.shared_pool.max_borrow is not None
    assert spec.shared_pool.max_borrow.mem == 16 * 1024
