"""Bad input to every suite API operation, and to every app's operations that no viewset serves: never a 500, every
4xx in the error format (tests/api_sweep.py)."""

from __future__ import annotations

import pytest

from tests.api_sweep import app_sweep_tests, sweep_viewless, viewless_operations

(
    test_there_are_operations_to_sweep,
    test_bad_input_is_refused_without_a_500,
    test_another_companys_records_cannot_be_referenced,
) = app_sweep_tests("suite.")

VIEWLESS = {f"{method.upper()} {path}": (path, method, op) for path, method, op in viewless_operations()}


@pytest.mark.parametrize("key", sorted(VIEWLESS))
def test_bad_input_to_operations_without_a_viewset_is_refused_without_a_500(key, company):
    """Reports, the promise, the credit check … — every app's, swept like the viewsets."""
    sweep = sweep_viewless(*VIEWLESS[key], company)
    assert sweep.sent > 0
    assert not sweep.failures, "\n".join(sweep.failures)
