"""相似事项: past items like a new one (jieba words, TF-IDF weights, cosine similarity) and the units that
handled them, offered to the office at registration and assignment as suggestions it may take or ignore.

The corpus is every item already given a lead unit; words of the title count double, since the title (案由)
names the matter and the content elaborates it. Segmented texts are cached per item (they never change
once assigned), so a query costs one pass over the cached word counts.
"""
from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass

import jieba
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import database_key
from engine.models import Assignment, Item, Unit

jieba.setLogLevel(logging.WARNING)

# Words every item shares: they say nothing about the matter.
STOPWORDS = frozenset("""关于 建议 提案 我区 本区 进一步 有关 问题 工作 相关 情况 进行 开展 方面 目前 部分 存在 一些 一个
                         通过 以及 为了 需要 提出 实施 做好 切实 同时 其中 比较 可以 没有 已经 如何 加大 加快""".split())
TITLE_WEIGHT = 2
MIN_SCORE = 0.25
_WORD = re.compile(r"[\w]+")

_lock = threading.Lock()
_cache: dict[tuple[str, int], tuple[int, Counter]] = {}  # (database url, item id) -> (text hash, word counts)


def words(text: str) -> Counter:
    """Content words of a Chinese text: jieba's search segmentation (compounds and their parts, so 公交线路
    meets 公交站点 on 公交), without stopwords, punctuation and single characters."""
    return Counter(w for w in jieba.lcut_for_search(text or "")
                   if len(w) > 1 and _WORD.fullmatch(w) and w not in STOPWORDS)


# The text compared, at most: a matter is named in its title and first paragraphs, and segmentation time
# grows with the text (a 20 MB content once took a quarter of an hour), so every caller is bounded here.
MAX_TITLE_CHARS, MAX_CONTENT_CHARS = 300, 5000


def item_words(title: str, content: str) -> Counter:
    counts = words((content or "")[:MAX_CONTENT_CHARS])
    for w, n in words((title or "")[:MAX_TITLE_CHARS]).items():
        counts[w] += n * TITLE_WEIGHT
    return counts


@dataclass(frozen=True)
class SimilarItem:
    item_id: int
    year: int
    number: str
    title: str
    score: float
    lead_unit: str | None
    co_units: tuple[str, ...]


@dataclass(frozen=True)
class UnitSuggestion:
    code: str
    name: str
    lead: int  # similar items this unit led
    co: int  # similar items it co-handled
    score: float  # summed similarity: the ranking


@dataclass(frozen=True)
class Suggestions:
    items: list[SimilarItem]
    units: list[UnitSuggestion]


def _vector(counts: Counter, idf: dict[str, float]) -> dict[str, float]:
    vec = {w: n * idf.get(w, 0.0) for w, n in counts.items()}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {w: v / norm for w, v in vec.items()} if norm else {}


def _corpus(session: Session, exclude_item_id: int | None) -> list[tuple[Item, Counter]]:
    q = select(Item).where(Item.lead_unit_id.is_not(None), Item.status.not_in(("withdrawn", "merged")))
    if exclude_item_id is not None:
        q = q.where(Item.id != exclude_item_id)
    key_base = database_key(session)
    out = []
    for item in session.scalars(q):
        key, text_hash = (key_base, item.id), hash((item.title, item.content))
        with _lock:
            cached = _cache.get(key)
        if cached is None or cached[0] != text_hash:
            cached = (text_hash, item_words(item.title, item.content))
            with _lock:
                _cache[key] = cached
        out.append((item, cached[1]))
    return out


def similar_items(session: Session, title: str, content: str = "", exclude_item_id: int | None = None,
                  limit: int = 5, min_score: float = MIN_SCORE) -> Suggestions:
    """The `limit` assigned items most like (title, content), best first, and the units that handled them."""
    query = item_words(title, content)
    if not query:
        return Suggestions([], [])
    corpus = _corpus(session, exclude_item_id)
    df = Counter(w for _, counts in corpus for w in counts)
    n = len(corpus) + 1  # the query is a document too: smoothed idf stays positive
    idf = {w: math.log((1 + n) / (1 + df[w])) + 1 for w in set(df) | set(query)}
    q = _vector(query, idf)
    scored = []
    for item, counts in corpus:
        shared = q.keys() & counts.keys()
        if not shared:
            continue
        v = _vector(counts, idf)
        score = sum(q[w] * v[w] for w in shared)
        if score >= min_score:
            scored.append((score, item))
    scored.sort(key=lambda p: (-p[0], -p[1].year, p[1].number))
    top = scored[:limit]
    return Suggestions(*_describe(session, top))


def _describe(session: Session, top: list[tuple[float, Item]]) -> tuple[list[SimilarItem], list[UnitSuggestion]]:
    if not top:
        return [], []
    ids = [item.id for _, item in top]
    units = {u.id: u for u in session.scalars(select(Unit))}
    roles: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for a in session.scalars(select(Assignment).where(Assignment.item_id.in_(ids), Assignment.ended_at.is_(None))):
        roles[a.item_id].append((a.unit_id, a.role))
    items, per_unit = [], defaultdict(lambda: [0, 0, 0.0])
    for score, item in top:
        co = tuple(units[u].name for u, role in roles[item.id] if role == "co")
        items.append(SimilarItem(item.id, item.year, item.number, item.title, round(score, 3),
                                 units[item.lead_unit_id].name if item.lead_unit_id in units else None, co))
        for unit_id, role in roles[item.id]:
            entry = per_unit[unit_id]
            entry[0 if role == "lead" else 1] += 1
            entry[2] += score if role == "lead" else score / 2  # leading a similar item says more
    suggestions = [UnitSuggestion(units[u].code, units[u].name, lead, co, round(s, 3))
                   for u, (lead, co, s) in per_unit.items() if units[u].active]
    suggestions.sort(key=lambda s: (-s.score, s.code))
    return items, suggestions
