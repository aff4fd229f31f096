"""China payroll arithmetic against worked examples (issue #6 acceptance 2)."""

from decimal import Decimal as D

import pytest

from erp.services.payroll_cn import ContributionItem, MonthInput, YearToDate, contributions, cumulative_tax, withhold


def run_year(months: list[MonthInput]) -> list:
    ytd = YearToDate()
    results = []
    for month in months:
        result = withhold(month, ytd)
        ytd = result.year_to_date
        results.append(result)
    return results


def test_sta_announcement_2018_61_example_across_twelve_months():
    """国家税务总局公告2018年第61号: 30,000 a month, 4,500 三险一金, 2,000 专项附加扣除.

    The announcement works January to March (555, 625, 1,850); the rest follows the same table and crosses from
    the 10 % into the 20 % band in August.
    """
    month = MonthInput(gross=D("30000"), social_insurance=D("4500"), special_additional=D("2000"))
    results = run_year([month] * 12)
    assert [r.month_tax for r in results] == [
        D("555.00"),
        D("625.00"),
        D("1850.00"),
        D("1850.00"),
        D("1850.00"),
        D("1850.00"),
        D("1850.00"),
        D("2250.00"),
        D("3700.00"),
        D("3700.00"),
        D("3700.00"),
        D("3700.00"),
    ]
    assert [r.rate for r in results[6:9]] == [D("0.10"), D("0.20"), D("0.20")]
    assert results[-1].cumulative_taxable == D("222000.00")
    # the year's withholding equals the annual tax on the annual taxable income
    assert sum(r.month_tax for r in results) == cumulative_tax(D("222000")) == D("27480.00")


def test_a_month_that_would_give_tax_back_withholds_zero_and_refunds_nothing():
    big = MonthInput(gross=D("60000"))
    unpaid = MonthInput(gross=D("0"))
    results = run_year([big, unpaid, unpaid])
    assert results[0].month_tax == D("2980.00")  # (60,000 − 5,000) × 10 % − 2,520
    assert results[1].month_tax == D("0")
    assert results[2].month_tax == D("0")
    assert results[2].year_to_date.tax_withheld == D("2980.00")


def test_mid_year_joiner_gets_basic_deduction_only_for_months_employed():
    results = run_year([MonthInput(gross=D("8000"))] * 2)
    assert [r.cumulative_taxable for r in results] == [D("3000.00"), D("6000.00")]
    assert [r.month_tax for r in results] == [D("90.00"), D("90.00")]


def test_income_under_the_threshold_is_not_taxed():
    result = withhold(MonthInput(gross=D("4800")), YearToDate())
    assert result.month_tax == D("0")
    assert result.cumulative_taxable == D("0.00")


def test_negative_input_is_refused():
    with pytest.raises(ValueError):
        withhold(MonthInput(gross=D("-1")), YearToDate())


PENSION = ContributionItem("pension", D("7460"), D("37302"), D("0.08"), D("0.16"))
HOUSING = ContributionItem("housing_fund", D("2690"), D("37302"), D("0.07"), D("0.07"))


def test_contribution_base_is_capped_and_floored_per_item():
    high = {c.code: c for c in contributions(D("50000"), [PENSION, HOUSING])}
    assert high["pension"].base == D("37302")
    assert (high["pension"].employee, high["pension"].employer) == (D("2984.16"), D("5968.32"))
    assert high["housing_fund"].employee == D("2611.14")

    low = {c.code: c for c in contributions(D("5000"), [PENSION, HOUSING])}
    assert low["pension"].base == D("7460")
    assert (low["pension"].employee, low["pension"].employer) == (D("596.80"), D("1193.60"))
    assert low["housing_fund"].base == D("5000")  # above the housing fund's own floor
    assert low["housing_fund"].employee == D("350.00")


def test_rounding_is_half_up_to_the_cent():
    item = ContributionItem("medical", D("0"), D("99999"), D("0.02"), D("0.095"))
    (c,) = contributions(D("12345.25"), [item])
    assert c.employee == D("246.91")  # 246.905 → 246.91
    assert c.employer == D("1172.80")  # 1172.79875 → 1172.80
