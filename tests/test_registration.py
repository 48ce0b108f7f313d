"""Registration: numbers stay unique when two offices register at the same moment."""
from __future__ import annotations

import threading

from sqlalchemy import select

import pytest

from engine.workflow.forms import FormInvalid
from engine.models import Item
from engine.items.registration import register_item
from tests.conftest import user


def register(db, title, number=""):
    with db.transaction() as s:
        return register_item(s, {"item_type": "suggestion", "title": title, "content": "内容。", "number": number,
                                 "proposer": "deputy_chen", "year": "2027"}, user(s, "office")).number


def test_two_registrations_at_once_get_two_numbers(demo_db):
    barrier, numbers, errors = threading.Barrier(2), [], []

    def run(title):
        try:
            barrier.wait(10)
            numbers.append(register(demo_db, title))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"关于第{i}件事的建议",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sorted(numbers) == ["JY2027-001", "JY2027-002"]


def test_a_given_number_that_exists_is_refused_clearly(demo_db):
    register(demo_db, "关于甲的建议", "JY2027-100")
    with pytest.raises(FormInvalid) as exc:
        register(demo_db, "关于乙的建议", "JY2027-100")
    assert exc.value.errors[0].message() == "编号 JY2027-100 已存在"
    with demo_db.reading() as s:
        assert s.scalars(select(Item.title).where(Item.number == "JY2027-100")).all() == ["关于甲的建议"]
