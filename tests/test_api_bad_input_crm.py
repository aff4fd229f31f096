"""Bad input to every crm API operation: never a 500, every 4xx in the error format (tests/api_sweep.py)."""

from tests.api_sweep import app_sweep_tests

(
    test_there_are_operations_to_sweep,
    test_bad_input_is_refused_without_a_500,
    test_another_companys_records_cannot_be_referenced,
) = app_sweep_tests("crm.")
