"""Text normalisation for customers: phone numbers to E.164, the denormalised search key, search terms.

Pure functions (no database): the services call them on every write so that stored phones, emails and
``search_text`` are always in one form, and the selectors call them on every search so that a query is
normalised the same way as the stored key.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from pypinyin import Style, lazy_pinyin, pinyin
from pypinyin.constants import RE_HANS
from pypinyin.core import _default_pinyin as _PINYIN
from pypinyin.seg.simpleseg import simple_seg

DEFAULT_PHONE_REGION = "CN"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]{3,}$")
_NON_DIGIT = re.compile(r"\D")
_SPACES = re.compile(r"\s+")
# Suffixes that people write or leave out on Chinese provinces: 广东 = 广东省, 广西 = 广西壮族自治区.
_PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)


def normalize_phone(raw: str, *, region: str = DEFAULT_PHONE_REGION) -> str:
    """``raw`` as an E.164 number (``+8613812345678``); '' for ''. Numbers without a country code are read as
    Chinese. Raises ``ValidationError`` for anything that is not a valid number."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    if region == "CN" and len(raw) == 11 and _CN_DIGITS.fullmatch(raw) and _plain_cn_prefix(raw[:5]):
        return "+86" + raw  # what phonenumbers gives for these (``_plain_cn_prefix``), without parsing
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("Enter a valid phone number, e.g. 13812345678, 010-12345678 or +44 20 7946 0958."), code="invalid_phone"
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    _PARSED[e164] = number
    if len(_PARSED) > _PARSED_MAX:
        with contextlib.suppress(StopIteration, RuntimeError):  # another thread changed it meanwhile
            _PARSED.pop(next(iter(_PARSED)), None)
    return e164


# The numbers just normalised, by E.164: a write normalises a phone and then builds the search key from it
# (``phone_search_forms``), which parsed it a second time — a third of an import's CPU per row went to
# ``phonenumbers``. Bounded (oldest out first), so an import of 100k rows keeps memory flat.
_PARSED: dict[str, phonenumbers.PhoneNumber] = {}
_PARSED_MAX = 2048


# 11 ASCII digits starting with 1: how Chinese mobile numbers are written, and most of what an import brings.
_CN_DIGITS = re.compile(r"1[0-9]{10}")


@lru_cache(maxsize=16384)
def _plain_cn_prefix(prefix: str) -> bool:
    """Whether phonenumbers reads the 11-digit numbers that start with ``prefix`` (5 digits) in region CN as valid
    numbers whose E.164 form is ``+86`` and the digits and whose national digits are the digits themselves (the
    mobile ranges), judged on one number of the prefix.

    Parsing, validating and formatting a number was a third of an import's Python time per row. In phonenumbers'
    metadata for China the validity and the format of an 11-digit number starting with 1 depend on its first 3–5
    digits only (mobile ``1(?:610\\d|740[0-5])\\d{6}|1(?:[38]\\d|4[57]|…)\\d{8}``, format ``1[3-9]`` →
    ``XXX XXXX XXXX``); a prefix for which the representative is anything else (invalid, a carrier code stripped,
    another format) takes the full path for every number. Checked number by number against phonenumbers in
    ``crm/tests/test_text_phone_fast_path.py`` (and on 78,240 numbers over all 10,000 prefixes when written: 0
    differences)."""
    sample = prefix + "000000"
    try:
        number = phonenumbers.parse(sample, "CN")
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = _NON_DIGIT.sub("", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return e164 == "+86" + sample and national == sample


def phone_search_forms(e164: str) -> list[str]:
    """The forms a user may type a stored number in: E.164 and the national digits (``01012345678``)."""
    if not e164:
        return []
    digits = e164[3:]
    if e164.startswith("+86") and len(digits) == 11 and _CN_DIGITS.fullmatch(digits) and _plain_cn_prefix(digits[:5]):
        return [e164, digits]
    forms = [e164]
    number = _PARSED.get(e164)
    if number is None:
        try:
            number = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:  # pragma: no cover - stored numbers are valid E.164
            return forms
    national = _NON_DIGIT.sub("", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    if national:
        forms.append(national)
    return forms


@lru_cache(maxsize=4096)
def display_phone(e164: str, *, region: str = DEFAULT_PHONE_REGION) -> str:
    """A stored number as people write it: national form for the home region (``138 1234 5678``, ``010 1234
    5678``), international for the others (``+44 20 7946 0958``); anything unparsable as it is."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    home = phonenumbers.region_code_for_number(number) == region
    form = phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, form)


def normalize_email(raw: str) -> str:
    return (raw or "").strip().lower()


def province_key(name: str) -> str:
    """``广东省`` and ``广东`` are one province for assignment rules; Latin names compare case-blind."""
    name = (name or "").strip()
    for suffix in _PROVINCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.casefold()


def _lazy_pinyin(text: str) -> tuple[list[str], list[str]]:
    """``lazy_pinyin(text)`` and its ``FIRST_LETTER`` form, lower-case, computed word by word.

    pypinyin segments a text (runs of Han characters cut into dictionary words by ``mmseg``, other runs kept
    whole) and converts each word on its own, so converting the words of the same segmentation separately gives
    the same syllables. Han words repeat across names (有限公司, 科技, 华东, 张 …) and their conversion — most of an
    import's CPU per row in pypinyin — is cached.
    """
    syllables: list[str] = []
    initials: list[str] = []
    for run in simple_seg(text):  # what pypinyin's seg does first: runs of Han and of other characters
        if RE_HANS.match(run):
            normal, first_letters = _han_run_pinyin(run)
        else:
            normal = first_letters = [part.lower() for part in lazy_pinyin(run, errors="default")]
        syllables.extend(normal)
        initials.extend(first_letters)
    return syllables, initials


@lru_cache(maxsize=65536)
def _han_run_pinyin(run: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A run of Han characters cut into words (pypinyin's seg cuts each run on its own) and converted word by
    word: names repeat their runs (有限公司, 科技, a surname and its given name …) far more than they repeat
    whole, so the segmentation is cached too."""
    normal: list[str] = []
    first_letters: list[str] = []
    for word in _PINYIN.seg(run):
        word_normal, word_first = _word_pinyin(word)
        normal.extend(word_normal)
        first_letters.extend(word_first)
    return tuple(normal), tuple(first_letters)


@lru_cache(maxsize=65536)
def _word_pinyin(word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    convert = _PINYIN._converter.convert
    normal = convert(word, Style.NORMAL, False, "default", strict=True)
    first_letters = convert(word, Style.FIRST_LETTER, False, "default", strict=True)
    return (
        tuple(s.lower() for item in normal for s in item),
        tuple(s.lower() for item in first_letters for s in item),
    )


@lru_cache(maxsize=16384)
def _readings(character: str) -> tuple[str, ...]:
    return tuple(pinyin(character, heteronym=True, style=Style.NORMAL)[0])


def pinyin_keys(text: str) -> list[str]:
    """Full pinyin and initials of the Chinese in ``text``: 张伟 → ``zhangwei``, ``zw``.

    The first character's other readings are added too, because surnames are where polyphones bite
    (单 is ``shan`` as a surname, 曾 is ``zeng``): ``dan``/``chan``/``shan`` all find 单.
    """
    if not text or not _HAN.search(text):
        return []
    compact = "".join(ch for ch in text if not ch.isspace())
    syllables, initials = _lazy_pinyin(compact)
    keys = ["".join(syllables), "".join(s[:1] for s in initials)]
    first = compact[0]
    if _HAN.match(first):
        readings = _readings(first)
        rest = "".join(syllables[1:])
        for reading in readings[:4]:
            key = reading.lower() + rest
            if key not in keys:
                keys.append(key)
    return keys


# The key is carried in a B-tree index (the list's page index, crm/models/customers.py), whose entries must stay
# under ~2.7 kB: a key is cut at this many bytes (a 200-character Chinese name with its pinyin is ~1.5 kB).
SEARCH_TEXT_MAX_BYTES = 2000


def build_search_text(*, names: Iterable[str] = (), phones: Iterable[str] = (), others: Iterable[str] = ()) -> str:
    """The lower-case search key stored in ``search_text`` (trigram-indexed).

    Names contribute themselves and their pinyin keys; phones their E.164 and national forms; ``others``
    (email, WeChat ID) themselves. Order is stable so that an unchanged record keeps an unchanged key.
    """
    parts: list[str] = []
    for name in names:
        name = _clean(name)
        if name:
            parts.append(name)
            parts.extend(pinyin_keys(name))
    for phone in phones:
        parts.extend(phone_search_forms(phone))
    for other in others:
        other = _clean(other)
        if other:
            parts.append(other)
    seen: set[str] = set()
    unique = [p for p in parts if not (p in seen or seen.add(p))]
    text = " ".join(unique).lower()
    if len(text.encode()) > SEARCH_TEXT_MAX_BYTES:  # only absurdly long names get here
        text = text.encode()[:SEARCH_TEXT_MAX_BYTES].decode(errors="ignore")
    return text


def search_terms(query: str) -> list[str]:
    """A user's query as the terms that must all be contained in ``search_text``.

    Whitespace separates terms (``zhang wei`` finds ``zhangwei``), except in something that looks like a phone
    number, whose separators are dropped (``138-1234-5678`` → ``13812345678``).
    """
    query = _clean(query).lower()
    if not query:
        return []
    if _PHONE_LIKE.match(query) and sum(ch.isdigit() for ch in query) >= 3:
        leading_plus = query.startswith("+")
        digits = _NON_DIGIT.sub("", query)
        return [("+" if leading_plus else "") + digits]
    seen: set[str] = set()
    return [t for t in query.split(" ") if t and not (t in seen or seen.add(t))]


def _clean(value: str) -> str:
    value = unicodedata.normalize("NFKC", value or "")
    return _SPACES.sub(" ", value).strip()
