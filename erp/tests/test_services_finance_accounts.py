"""Chart of accounts (CAS and IFRS templates), dimensions, journals, fiscal years and periods."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from erp.models import Account, AccountType, Dimension, DimensionKind, FiscalPeriod, FiscalYear, Journal
from erp.services import finance as svc
from erp.services.finance_charts import CAS, IFRS
from suite.testing import CompanyFactory

pytestmark = pytest.mark.django_db


def test_cas_template_installs_the_standard_codes_with_hierarchy():
    company = CompanyFactory()

    created = svc.chart_of_accounts_install(company=company, template="cas")

    assert created == len(CAS)
    accounts = {a.code: a for a in Account.objects.filter(company=company).select_related("parent")}
    assert accounts["1001"].name == "库存现金" and accounts["1001"].name_en == "Cash on hand"
    assert accounts["1001"].is_cash and accounts["1002"].is_cash and not accounts["1122"].is_cash
    assert accounts["1122"].name == "应收账款" and accounts["1122"].account_type == AccountType.ASSET
    assert accounts["1405"].name == "库存商品"
    assert accounts["2202"].name == "应付账款" and accounts["2202"].account_type == AccountType.LIABILITY
    assert accounts["4001"].account_type == AccountType.EQUITY and accounts["4103"].name == "本年利润"
    assert accounts["6001"].account_type == AccountType.INCOME and accounts["6001"].name == "主营业务收入"
    assert accounts["6401"].account_type == AccountType.EXPENSE and accounts["6602"].name == "管理费用"
    assert accounts["222101"].parent == accounts["2221"]
    assert accounts["22210101"].name == "进项税额" and accounts["22210101"].parent == accounts["222101"]
    assert accounts["22210102"].name == "销项税额" and accounts["22210102"].parent == accounts["222101"]
    assert accounts["1001"].parent is None


def test_installing_twice_adds_nothing_and_keeps_edits():
    company = CompanyFactory()
    svc.chart_of_accounts_install(company=company, template="cas")
    Account.objects.filter(company=company, code="6602").update(name="管理费用（总部）")

    assert svc.chart_of_accounts_install(company=company, template="cas") == 0
    assert Account.objects.get(company=company, code="6602").name == "管理费用（总部）"
    assert Account.objects.filter(company=company).count() == len(CAS)


def test_ifrs_template_and_unknown_template():
    company = CompanyFactory()
    assert svc.chart_of_accounts_install(company=company, template="ifrs") == len(IFRS)
    cash = Account.objects.get(company=company, code="1010")
    assert cash.is_cash and cash.parent.code == "1000" and cash.name_en == "Cash on hand"
    with pytest.raises(ValidationError) as error:
        svc.chart_of_accounts_install(company=company, template="gaap")
    assert "template" in error.value.message_dict


def test_charts_are_per_company():
    a, b = CompanyFactory(), CompanyFactory()
    svc.chart_of_accounts_install(company=a, template="cas")
    svc.chart_of_accounts_install(company=b, template="ifrs")
    assert Account.objects.get(company=a, code="1001").name == "库存现金"
    assert not Account.objects.filter(company=b, code="1001").exists()


def test_account_create_validates_code_parent_and_type():
    company = CompanyFactory()
    svc.chart_of_accounts_install(company=company, template="cas")
    bank = Account.objects.get(company=company, code="1002")

    icbc = svc.account_create(
        company=company, code="100201", name="工商银行", name_en="ICBC", account_type="asset", parent=bank, is_cash=True
    )
    assert icbc.parent == bank and icbc.is_cash

    with pytest.raises(ValidationError) as error:
        svc.account_create(company=company, code="100201", name="重复", account_type="asset")
    assert "code" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        svc.account_create(company=company, code="100202", name="错类型", account_type="income", parent=bank)
    assert "parent" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        svc.account_create(company=company, code="10 02", name="空格", account_type="asset")
    assert "code" in error.value.message_dict
    other = CompanyFactory()
    with pytest.raises(ValidationError) as error:
        svc.account_create(company=other, code="9999", name="别家", account_type="asset", parent=bank)
    assert "parent" in error.value.message_dict


def test_account_cannot_become_its_own_ancestor():
    company = CompanyFactory()
    top = svc.account_create(company=company, code="1", name="顶", account_type="asset")
    child = svc.account_create(company=company, code="11", name="子", account_type="asset", parent=top)
    with pytest.raises(ValidationError) as error:
        svc.account_update(account=top, parent=child)
    assert "parent" in error.value.message_dict


def test_used_account_keeps_code_and_type_and_cannot_be_deleted(ledger):
    ledger.post(date(2025, 1, 5), ("1002", "100.00", 0), ("4001", 0, "100.00"))
    bank = ledger.account("1002")

    with pytest.raises(ValidationError) as error:
        svc.account_update(account=bank, account_type="expense")
    assert "account_type" in error.value.message_dict
    with pytest.raises(svc.LedgerConflict):
        svc.account_delete(account=bank)
    renamed = svc.account_update(account=bank, name="银行存款—基本户", is_active=False)
    assert renamed.name == "银行存款—基本户" and not renamed.is_active


def test_unused_account_can_be_deleted():
    company = CompanyFactory()
    account = svc.account_create(company=company, code="1999", name="临时", account_type="asset")
    svc.account_delete(account=account)
    assert not Account.objects.filter(pk=account.pk).exists()


def test_dimensions_unique_per_kind():
    company = CompanyFactory()
    sales_dept = svc.dimension_create(company=company, kind=DimensionKind.DEPARTMENT, code="D01", name="销售部")
    project = svc.dimension_create(company=company, kind=DimensionKind.PROJECT, code="D01", name="一期工程")
    assert sales_dept.code == project.code
    with pytest.raises(ValidationError):
        svc.dimension_create(company=company, kind=DimensionKind.DEPARTMENT, code="D01", name="重复")
    with pytest.raises(ValidationError):
        svc.dimension_create(company=company, kind="team", code="X", name="无效类别")
    svc.dimension_update(dimension=sales_dept, is_active=False)
    assert not Dimension.objects.get(pk=sales_dept.pk).is_active


def test_default_journals():
    company = CompanyFactory()
    assert svc.journals_install_defaults(company=company) == 6
    assert svc.journals_install_defaults(company=company) == 0
    assert Journal.objects.get(company=company, code="GEN").name == "记账凭证"
    with pytest.raises(ValidationError):
        svc.journal_create(company=company, code="GEN", name="重复")


def test_fiscal_year_has_twelve_monthly_periods():
    company = CompanyFactory()
    year = svc.fiscal_year_create(company=company, start_date=date(2024, 1, 1))

    periods = list(year.periods.order_by("number"))
    assert year.name == "2024" and year.end_date == date(2024, 12, 31)
    assert [p.name for p in periods[:3]] == ["2024-01", "2024-02", "2024-03"]
    assert periods[1].end_date == date(2024, 2, 29)  # leap year
    assert periods[-1].start_date == date(2024, 12, 1) and periods[-1].end_date == date(2024, 12, 31)
    assert all(p.is_open for p in periods)


def test_fiscal_year_starting_mid_year():
    company = CompanyFactory()
    year = svc.fiscal_year_create(company=company, start_date=date(2024, 4, 1))
    assert year.name == "2024/2025" and year.end_date == date(2025, 3, 31)
    assert year.periods.get(number=12).name == "2025-03"


def test_fiscal_years_cannot_overlap():
    company = CompanyFactory()
    svc.fiscal_year_create(company=company, start_date=date(2025, 1, 1))
    with pytest.raises(ValidationError) as error:
        svc.fiscal_year_create(company=company, start_date=date(2025, 7, 1), name="FY-mid")
    assert "start_date" in error.value.message_dict
    # and the database refuses it too (exclusion constraints), whatever the code does
    with pytest.raises(IntegrityError), transaction.atomic():
        FiscalYear.objects.create(company=company, name="raw", start_date=date(2025, 6, 1), end_date=date(2026, 5, 31))
    year = FiscalYear.objects.get(company=company)
    with pytest.raises(IntegrityError), transaction.atomic():
        FiscalPeriod.objects.create(
            company=company,
            fiscal_year=year,
            number=13,
            name="X",
            start_date=date(2025, 3, 15),
            end_date=date(2025, 3, 20),
        )
    # another company's years do not collide
    svc.fiscal_year_create(company=CompanyFactory(), start_date=date(2025, 1, 1))
