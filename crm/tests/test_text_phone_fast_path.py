"""The cheap paths of the import's per-row work give exactly what the full paths give: Chinese mobile numbers
without phonenumbers' parser (``crm.text._plain_cn_prefix``), pinyin from cached runs of Han characters
(``crm.text._han_run_pinyin``), and COPY's row values without the per-field calls that return the value unchanged
(``crm.services.imports._copy_rows``)."""

import random
import re
from decimal import Decimal

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from crm import text
from crm.models import Account, Contact
from crm.services.imports import _copy_rows
from crm.tests import factories


def _reference(raw: str):
    """normalize_phone and phone_search_forms as phonenumbers computes them, or None for an invalid number."""
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return e164, [e164, national] if national else [e164]


def _ours(raw: str):
    try:
        e164 = text.normalize_phone(raw)
    except ValidationError:
        return None
    return e164, text.phone_search_forms(e164)


def test_eleven_digit_numbers_starting_with_1_match_phonenumbers():
    rng = random.Random(11)
    numbers = [f"{prefix}{rng.randrange(10**6):06d}" for prefix in range(10000, 20000, 3)]
    numbers += [f"1{rng.randrange(10**10):010d}" for _ in range(1500)]
    numbers += ["13812345678", "17400123456", "17406123456", "16100123456", "12593123456", "17951123456"]
    differences = [raw for raw in numbers if _ours(raw) != _reference(raw)]
    assert differences == []
    assert any(_ours(raw) is None for raw in numbers)  # invalid ranges are still refused


def test_other_spellings_still_take_the_full_path():
    for raw in ["138 1234 5678", "+86 138 1234 5678", "010-12345678", "+44 20 7946 0958", "１３８１２３４５６７８"]:
        assert _ours(raw) == _reference(raw), raw
    with pytest.raises(ValidationError):
        text.normalize_phone("12345")


def _plain(value):
    return ("jsonb", value.obj) if hasattr(value, "obj") else value  # psycopg's Jsonb wrapper has no __eq__


@pytest.mark.django_db
def test_copy_rows_are_what_bulk_create_binds(company, member):
    user = member(company, "admin", username="copier").user
    account = factories.AccountFactory(company=company, name="母公司")
    records = [
        Account(company=company, name="杭州明远", phone="+8613812345678", credit_limit=Decimal("1200.50"),
                custom={"level": "A"}, search_text="x", owner=user),
        Account(company=company, name="空", search_text=""),
        Contact(company=company, name="张伟", account=account, owner=user, search_text="张伟 zhangwei zw"),
    ]  # fmt: skip
    for record in records:
        fields = list(type(record)._meta.concrete_fields)
        expected = tuple(f.get_db_prep_save(f.pre_save(record, True), connection) for f in fields)
        (got,) = _copy_rows(fields, [record])
        # auto_now stamps are taken at each pre_save: compare them by type, everything else by value
        assert [type(v) for v in got] == [type(v) for v in expected]
        stamps = {i for i, f in enumerate(fields) if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)}
        assert [_plain(v) for i, v in enumerate(got) if i not in stamps] == [
            _plain(v) for i, v in enumerate(expected) if i not in stamps
        ]


def test_pinyin_by_cached_runs_is_pypinyins_own():
    from pypinyin import Style, lazy_pinyin

    rng = random.Random(5)
    alphabet = "张王李赵刘陈单曾重长行乐华东南北远大宏达恒通新兴金盛鑫源"
    alphabet += "科创机电装备贸易有限公司股份集团银行重庆长沙abcXYZ019-()（）·"
    for _ in range(3000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        expected = (
            [s.lower() for s in lazy_pinyin(name, errors="default")],
            [s.lower() for s in lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")],
        )
        assert text._lazy_pinyin(name) == expected, name
