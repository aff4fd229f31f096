"""A lexicon-based sentiment scorer and keyword extractor for Chinese and English social posts.

Shipped in the repository rather than taken from snownlp / jieba (docs/decisions.md): it runs in the ingestion
path on every comment, so it must cost microseconds and load nothing at import; it must be deterministic for
tests; and what it counts as negative must be readable and editable by the service team.

How it scores: Chinese is scanned for the lexicon's words longest-first (no segmentation needed: the lexicon
words are matched as substrings, and a matched span is not matched again); English is split into words.
A negator (不/没/别/无 … or not/no/never/n't) up to two words before a sentiment word flips it; an intensifier
(很/非常/太/超 … or very/so/really) before it weighs it 1.5×. ``score = (pos − neg) / (pos + neg)`` in
[-1, 1] (0 when no sentiment word is found; both lexicons are applied to every post, so mixed posts count);
a star rating, when the platform gives one, is averaged in.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

POSITIVE_ZH = [
    "好用",
    "好吃",
    "好喝",
    "好看",
    "喜欢",
    "满意",
    "推荐",
    "不错",
    "棒",
    "赞",
    "优秀",
    "完美",
    "惊喜",
    "实惠",
    "划算",
    "值得",
    "回购",
    "舒服",
    "方便",
    "精致",
    "漂亮",
    "新鲜",
    "正品",
    "快递快",
    "物流快",
    "服务好",
    "态度好",
    "耐用",
    "给力",
    "超值",
    "开心",
    "感谢",
    "好评",
    "点赞",
    "爱了",
    "绝了",
    "安心",
    "放心",
    "清爽",
    "细腻",
    "香",
    "甜",
    "靠谱",
    "专业",
    "贴心",
    "高效",
    "五星",
    "好",
]
NEGATIVE_ZH = [
    "差评",
    "太差",
    "很差",
    "垃圾",
    "失望",
    "难用",
    "难吃",
    "难喝",
    "难看",
    "退货",
    "退款",
    "投诉",
    "坑",
    "骗",
    "假货",
    "过期",
    "变质",
    "破损",
    "坏了",
    "漏",
    "慢",
    "贵",
    "不值",
    "后悔",
    "恶心",
    "发霉",
    "异味",
    "臭",
    "掉色",
    "起球",
    "质量差",
    "服务差",
    "态度差",
    "不好",
    "糟糕",
    "生气",
    "上当",
    "欺骗",
    "虚假",
    "问题",
    "故障",
    "卡顿",
    "发烫",
    "刺鼻",
    "过敏",
    "拉肚子",
    "吐槽",
    "避雷",
    "踩雷",
    "翻车",
    "差",
]
NEGATORS_ZH = ("不", "没", "没有", "别", "无", "未", "不太", "并不", "一点也不", "毫不")
INTENSIFIERS_ZH = ("很", "非常", "太", "超", "超级", "特别", "真", "好", "十分", "极其", "巨")

POSITIVE_EN = {
    "good",
    "great",
    "excellent",
    "love",
    "loved",
    "lovely",
    "like",
    "liked",
    "amazing",
    "awesome",
    "perfect",
    "happy",
    "recommend",
    "recommended",
    "nice",
    "fantastic",
    "wonderful",
    "fast",
    "best",
    "beautiful",
    "comfortable",
    "fresh",
    "worth",
    "satisfied",
    "delicious",
    "tasty",
    "smooth",
    "reliable",
    "helpful",
    "friendly",
    "authentic",
    "quality",
    "impressed",
    "thanks",
}
NEGATIVE_EN = {
    "bad",
    "terrible",
    "awful",
    "hate",
    "hated",
    "poor",
    "worst",
    "broken",
    "disappointed",
    "disappointing",
    "disappointment",
    "refund",
    "return",
    "returned",
    "complaint",
    "complain",
    "fake",
    "expired",
    "late",
    "slow",
    "rude",
    "expensive",
    "useless",
    "waste",
    "scam",
    "damaged",
    "leaking",
    "leak",
    "dirty",
    "smell",
    "smells",
    "smelly",
    "allergic",
    "sick",
    "faulty",
    "defective",
    "problem",
    "problems",
    "issue",
    "issues",
    "never",
}
NEGATORS_EN = {"not", "no", "never", "dont", "don't", "doesnt", "doesn't", "didnt", "didn't", "isnt", "isn't",
               "wasnt", "wasn't", "cant", "can't", "won't", "hardly"}  # fmt: skip
INTENSIFIERS_EN = {"very", "so", "really", "extremely", "super", "too", "absolutely", "totally"}
NEGATIVE_EN_NOT_NEGATED = {"never"}  # "never" is a negator first

STOPWORDS_EN = {
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "if",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "i",
    "me",
    "my",
    "we",
    "our",
    "you",
    "your",
    "he",
    "she",
    "they",
    "them",
    "his",
    "her",
    "their",
    "as",
    "by",
    "from",
    "so",
    "very",
    "really",
    "just",
    "not",
    "no",
    "too",
    "can",
    "will",
    "would",
    "could",
    "should",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "am",
    "all",
    "any",
    "some",
    "more",
    "most",
    "than",
    "then",
    "there",
    "here",
    "what",
    "which",
    "who",
    "when",
    "where",
    "why",
    "how",
    "also",
    "only",
    "about",
    "into",
    "out",
    "up",
    "down",
    "over",
    "again",
    "got",
    "get",
    "one",
}
STOP_CHARS_ZH = set("的了是我你他她它们这那就都也还和与在有个吧啊呢吗哦呀嘛很太非常不没被把给对让")

CJK = re.compile(r"[\u4e00-\u9fff]+")
WORD_EN = re.compile(r"[A-Za-z][A-Za-z']+")

_ZH_TERMS = sorted(
    [(w, 1) for w in POSITIVE_ZH] + [(w, -1) for w in NEGATIVE_ZH], key=lambda item: (-len(item[0]), item[0])
)
POSITIVE_THRESHOLD = Decimal("0.2")
NEGATIVE_THRESHOLD = Decimal("-0.2")


@dataclass
class Analysis:
    language: str  # "zh" | "en"
    score: Decimal  # -1.000 … 1.000
    sentiment: str  # positive | neutral | negative
    hits: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)


def detect_language(text: str) -> str:
    """``zh`` when at least a fifth of the letters are Chinese characters, else ``en``."""
    cjk = sum(len(run) for run in CJK.findall(text))
    latin = sum(len(w) for w in WORD_EN.findall(text))
    return "zh" if cjk and cjk * 5 >= cjk + latin else "en"


def _score_zh(text: str, hits: list[str]) -> tuple[float, float]:
    pos = neg = 0.0
    taken = [False] * len(text)
    for word, polarity in _ZH_TERMS:
        start = text.find(word)
        while start != -1:
            end = start + len(word)
            if not any(taken[start:end]):
                for i in range(start, end):
                    taken[i] = True
                before = text[max(0, start - 4) : start]
                weight = 1.0
                sign = polarity
                # A negator right before the word flips it (不好, 没有惊喜), unless the word already contains it.
                if any(before.endswith(n) or before[:-1].endswith(n) for n in NEGATORS_ZH) and not word.startswith(
                    ("不", "没")
                ):
                    sign = -sign
                if any(before.endswith(i) for i in INTENSIFIERS_ZH):
                    weight = 1.5
                if sign > 0:
                    pos += weight
                else:
                    neg += weight
                hits.append(word)
            start = text.find(word, end)
    return pos, neg


def _score_en(text: str, hits: list[str]) -> tuple[float, float]:
    pos = neg = 0.0
    words = [w.lower() for w in WORD_EN.findall(text)]
    for index, word in enumerate(words):
        polarity = 1 if word in POSITIVE_EN else -1 if word in NEGATIVE_EN and word not in NEGATORS_EN else 0
        if not polarity:
            continue
        window = words[max(0, index - 3) : index]
        sign = -polarity if any(w in NEGATORS_EN for w in window) else polarity
        weight = 1.5 if index and words[index - 1] in INTENSIFIERS_EN else 1.0
        if sign > 0:
            pos += weight
        else:
            neg += weight
        hits.append(word)
    return pos, neg


def keywords(text: str, *, language: str | None = None, limit: int = 8) -> list[str]:
    """The post's most frequent content words: English words minus stopwords; for Chinese (no segmenter) the
    sentiment-lexicon words found plus the most frequent two-character sequences without function characters.
    Ties keep the order of first appearance."""
    language = language or detect_language(text)
    counter: Counter[str] = Counter()
    if language == "en":
        for word in WORD_EN.findall(text):
            lowered = word.lower().strip("'")
            if len(lowered) > 2 and lowered not in STOPWORDS_EN:
                counter[lowered] += 1
    else:
        for word, _polarity in _ZH_TERMS:
            if len(word) > 1 and word in text:
                counter[word] += 2 * text.count(word)
        for run in CJK.findall(text):
            for i in range(len(run) - 1):
                pair = run[i : i + 2]
                if not (set(pair) & STOP_CHARS_ZH) and not any(pair in w for w in counter):
                    counter[pair] += 1
        for word in WORD_EN.findall(text):  # brand and model names in Latin letters
            lowered = word.lower()
            if len(lowered) > 2 and lowered not in STOPWORDS_EN:
                counter[lowered] += 1
    ranked = sorted(counter.items(), key=lambda item: -item[1])
    return [word for word, count in ranked if count > 1 or len(ranked) <= limit][:limit]


def analyse(text: str, *, rating: int | None = None) -> Analysis:
    """Sentiment and keywords of ``text`` (Chinese or English); ``rating`` 1–5 stars is averaged in."""
    text = text or ""
    language = detect_language(text)
    hits: list[str] = []
    # Both lexicons always: mixed posts are common ("这款不错 but delivery was slow").
    zh_pos, zh_neg = _score_zh(text, hits)
    en_pos, en_neg = _score_en(text, hits)
    pos, neg = zh_pos + en_pos, zh_neg + en_neg
    score = (pos - neg) / (pos + neg) if pos + neg else 0.0
    if rating is not None:
        stars = (rating - 3) / 2  # 1★ = -1, 3★ = 0, 5★ = 1
        score = (score + stars) / 2 if pos + neg else stars
    value = Decimal(str(round(score, 3)))
    sentiment = "positive" if value >= POSITIVE_THRESHOLD else "negative" if value <= NEGATIVE_THRESHOLD else "neutral"
    return Analysis(
        language=language, score=value, sentiment=sentiment, hits=hits, keywords=keywords(text, language=language)
    )
