"""Bad input to every scrm API operation: never a 500, every 4xx in the error format (tests/api_sweep.py)."""

from __future__ import annotations

import pytest

from suite.testing import collect_viewsets
from tests.api_sweep import sweep_viewset

VIEWSETS = {key: routes for key, routes in collect_viewsets().items() if key.startswith("scrm.")}


def test_there_are_operations_to_sweep():
    assert len(VIEWSETS) >= 3


@pytest.mark.parametrize("key", sorted(VIEWSETS))
def test_bad_input_is_refused_without_a_500(key, company):
    sweep = sweep_viewset(VIEWSETS[key], company)
    assert sweep.sent > 0
    assert not sweep.failures, "\n".join(sweep.failures)
