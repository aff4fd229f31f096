"""The lexicon sentiment scorer and keyword extractor, Chinese and English (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scrm.text.sentiment import analyse, detect_language, keywords


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("这个面霜很好用，推荐！", "positive"),
        ("非常满意，五星好评", "positive"),
        ("质量太差了，收到就破损，要退货", "negative"),
        ("东西不好，没有惊喜", "negative"),  # negated positives
        ("差评！面霜发霉了", "negative"),
        ("还行吧，一般", "neutral"),
        ("Love it, really great quality", "positive"),
        ("Not good. The bottle arrived broken and leaking, I want a refund", "negative"),
        ("It is fine", "neutral"),
        ("not bad at all", "positive"),
    ],
)
def test_sentiment(text, sentiment):
    assert analyse(text).sentiment == sentiment


def test_scores_are_bounded_decimals_and_ratings_count():
    result = analyse("还行吧", rating=1)
    assert result.score == Decimal("-1.0") and result.sentiment == "negative"
    mixed = analyse("很好用 but shipping was slow", rating=5)
    assert Decimal("-1") <= mixed.score <= Decimal("1")
    assert mixed.sentiment == "positive"


def test_language_and_keywords():
    assert detect_language("这款精华液很好用") == "zh"
    assert detect_language("The serum works well") == "en"
    assert keywords("The serum works. Great serum, great price!")[:2] == ["serum", "great"]
    assert "面霜" in analyse("面霜很好用，这款面霜回购了").keywords
