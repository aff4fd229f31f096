"""China payroll arithmetic: social insurance, housing fund and individual income tax (累计预扣法).

Pure functions on `Decimal`, no database: the payroll run service (issue #6) feeds them an employee's month and
their year-to-date figures and stores what they return. Keeping the arithmetic here makes it testable against the
worked examples of the State Taxation Administration (国家税务总局公告2018年第61号) line by line.

Rules implemented:
- Social insurance and housing fund (五险一金): the contribution base is the employee's declared base clamped to
  the city's floor and cap for that item; each item has an employee and an employer rate. Amounts are rounded
  to the cent, half up (most cities round per item; a city that rounds differently sets `rounding` on its item).
- Individual income tax on wages, cumulative withholding (累计预扣法):
  cumulative taxable income = cumulative gross − 5,000 × months − cumulative employee social insurance and housing
  fund − cumulative special additional deductions (专项附加扣除) − cumulative other deductions;
  cumulative tax = taxable × rate − quick deduction, from the 7-bracket annual table (综合所得预扣率表一);
  this month's withholding = cumulative tax − tax already withheld this year, never below zero (an excess is
  not refunded during the year; it is settled in the annual reconciliation, 汇算清缴).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0")
MONTHLY_BASIC_DEDUCTION = Decimal("5000")  # 基本减除费用, 60,000 a year

# 综合所得个人所得税预扣率表（居民个人工资、薪金所得预扣预缴适用）: (upper bound of the band, rate, quick deduction)
ANNUAL_BRACKETS: tuple[tuple[Decimal | None, Decimal, Decimal], ...] = (
    (Decimal("36000"), Decimal("0.03"), Decimal("0")),
    (Decimal("144000"), Decimal("0.10"), Decimal("2520")),
    (Decimal("300000"), Decimal("0.20"), Decimal("16920")),
    (Decimal("420000"), Decimal("0.25"), Decimal("31920")),
    (Decimal("660000"), Decimal("0.30"), Decimal("52920")),
    (Decimal("960000"), Decimal("0.35"), Decimal("85920")),
    (None, Decimal("0.45"), Decimal("181920")),
)


def cents(value: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return value.quantize(CENT, rounding=rounding)


@dataclass(frozen=True)
class ContributionItem:
    """One line of a city's table, e.g. pension in Shanghai 2025: base 7,460–37,302, employee 8 %, employer 16 %."""

    code: str  # pension, medical, unemployment, injury, maternity, housing_fund, …
    floor: Decimal
    cap: Decimal
    employee_rate: Decimal
    employer_rate: Decimal
    rounding: str = ROUND_HALF_UP

    def base_for(self, declared_base: Decimal) -> Decimal:
        return min(max(declared_base, self.floor), self.cap)


@dataclass(frozen=True)
class Contribution:
    code: str
    base: Decimal
    employee: Decimal
    employer: Decimal


def contributions(declared_base: Decimal, items: Sequence[ContributionItem]) -> list[Contribution]:
    """Employee and employer amounts per item for one month, the base clamped to each item's floor and cap."""
    if declared_base < ZERO:
        raise ValueError("The contribution base cannot be negative.")
    result = []
    for item in items:
        base = item.base_for(declared_base)
        result.append(
            Contribution(
                code=item.code,
                base=base,
                employee=cents(base * item.employee_rate, item.rounding),
                employer=cents(base * item.employer_rate, item.rounding),
            )
        )
    return result


def annual_bracket(taxable: Decimal) -> tuple[Decimal, Decimal]:
    """(rate, quick deduction) of the band a cumulative taxable income falls into."""
    for upper, rate, quick in ANNUAL_BRACKETS:
        if upper is None or taxable <= upper:
            return rate, quick
    raise AssertionError("unreachable: the last band is open-ended")


def cumulative_tax(taxable: Decimal) -> Decimal:
    if taxable <= ZERO:
        return ZERO
    rate, quick = annual_bracket(taxable)
    return cents(taxable * rate - quick)


@dataclass(frozen=True)
class MonthInput:
    """One month of one employee; amounts for this month only."""

    gross: Decimal  # taxable wages and salaries of the month (应发工资中应税部分)
    social_insurance: Decimal = ZERO  # employee's share of 五险一金 (专项扣除)
    special_additional: Decimal = ZERO  # 专项附加扣除 of the month (children, elderly care, housing, education…)
    other_deductions: Decimal = ZERO  # 其他扣除: enterprise annuity, commercial health insurance …
    tax_free_income: Decimal = ZERO  # 免税收入 included in gross


@dataclass
class YearToDate:
    """What the employer has withheld for this employee so far this tax year (carried month to month)."""

    months: int = 0
    gross: Decimal = ZERO
    tax_free_income: Decimal = ZERO
    social_insurance: Decimal = ZERO
    special_additional: Decimal = ZERO
    other_deductions: Decimal = ZERO
    tax_withheld: Decimal = ZERO


@dataclass(frozen=True)
class TaxResult:
    month_tax: Decimal  # to withhold this month
    cumulative_taxable: Decimal
    cumulative_tax: Decimal
    rate: Decimal
    quick_deduction: Decimal
    year_to_date: YearToDate = field(repr=False)


def withhold(month: MonthInput, ytd: YearToDate, *, basic_deduction: Decimal = MONTHLY_BASIC_DEDUCTION) -> TaxResult:
    """Tax to withhold this month under 累计预扣法 and the updated year-to-date figures (the input is not changed).

    `ytd.months` counts the months this employer has employed the person this year, including this one after the
    call: a person who joins in July gets 5,000 × 1 in July, 5,000 × 2 in August, and so on.
    """
    for name in ("gross", "social_insurance", "special_additional", "other_deductions", "tax_free_income"):
        if getattr(month, name) < ZERO:
            raise ValueError(f"{name} cannot be negative.")
    new = YearToDate(
        months=ytd.months + 1,
        gross=ytd.gross + month.gross,
        tax_free_income=ytd.tax_free_income + month.tax_free_income,
        social_insurance=ytd.social_insurance + month.social_insurance,
        special_additional=ytd.special_additional + month.special_additional,
        other_deductions=ytd.other_deductions + month.other_deductions,
        tax_withheld=ytd.tax_withheld,
    )
    taxable = (
        new.gross
        - new.tax_free_income
        - basic_deduction * new.months
        - new.social_insurance
        - new.special_additional
        - new.other_deductions
    )
    taxable = max(taxable, ZERO)
    rate, quick = annual_bracket(taxable) if taxable > ZERO else (ANNUAL_BRACKETS[0][1], ZERO)
    total = cumulative_tax(taxable)
    month_tax = max(total - ytd.tax_withheld, ZERO)
    new.tax_withheld = ytd.tax_withheld + month_tax
    return TaxResult(
        month_tax=month_tax,
        cumulative_taxable=cents(taxable),
        cumulative_tax=total,
        rate=rate,
        quick_deduction=quick,
        year_to_date=new,
    )
