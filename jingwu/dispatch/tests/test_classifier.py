"""The classifier's rule table: exact suggestions for typical calls, urgency, versions, compatibility."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jingwu.dispatch import classifier
from jingwu.dispatch.classifier import Category, classify


@pytest.mark.parametrize(("text", "expected"), [
    ("我的电动车被偷了，停在小区门口", ("criminal", "theft", 3, "theft")),
    ("家里被盗了，门锁被撬", ("criminal", "burglary", 2, "burglary")),
    ("有人持刀抢劫，快来", ("criminal", "robbery", 1, "robbery")),
    ("刚才有人冒充客服让我转账，我被骗了五万", ("criminal", "fraud", 2, "fraud")),
    ("楼下饭店门口有人打架", ("public_order", "fighting", 2, "fighting")),
    ("楼上装修声太吵了", ("public_order", "noise", 4, "noise")),
    ("路口两辆车追尾了，没人受伤", ("traffic", "accident", 3, "traffic_accident")),
    ("十字路口车祸，有人被撞了", ("traffic", "accident_injury", 1, "traffic_injury")),
    ("小区里一辆电动车着火了", ("fire", "vehicle", 1, "vehicle_fire")),
    ("我家孩子走丢了，穿红衣服", ("assistance", "missing_person", 2, "missing_person")),
    ("邻居吵架吵了一晚上", ("dispute", "neighbour", 3, "neighbour_dispute")),
    ("老板拖欠工资三个月", ("dispute", "labour", 3, "labour_dispute")),
    ("小区停水两天了没人管", ("non_police", "utilities", 4, "utilities")),
    ("对不起，打错了", ("invalid", "misdial", 4, "misdial")),
    ("我要举报有人卖假烟", ("complaint", "report", 3, "report")),
])
def test_typical_calls_get_the_rule_s_suggestion(text: str, expected: tuple[str, str, int, str]) -> None:
    s = classify(text)
    assert (s.category, s.subcategory, s.priority, s.rule) == expected
    assert s.version == classifier.RULES_VERSION


def test_the_longest_keyword_wins_so_the_specific_rule_beats_the_general_one() -> None:
    # "电动车着火" (vehicle fire, 5 characters) beats "着火" (building fire, 2).
    assert classify("电动车着火了").rule == "vehicle_fire"
    assert classify("楼道里着火了").rule == "building_fire"
    assert classify("楼道里着火了").matched == ("着火", "着火")  # keyword, then the urgency word


def test_urgency_words_raise_priority_except_where_they_cannot_mean_urgency() -> None:
    assert classify("有人打架").priority == 2
    assert classify("有人打架，正在流血").priority == 1
    assert classify("有人打架，正在流血").matched == ("打架", "正在", "流血")
    # An invalid or non-police call keeps its priority whatever words it has.
    assert (classify("打错了，救命这个词只是开玩笑").category, classify("打错了，救命这个词只是开玩笑").priority) == (
        "invalid", 4)
    assert classify("停电了快来人").priority == 4
    # A denied urgency word does not count; one asserted elsewhere in the text does.
    assert classify("追尾了，没人受伤").priority == 3
    assert classify("追尾了，未流血").priority == 3
    assert classify("追尾了，司机没受伤，乘客受伤了").priority == 1
    assert classify("追尾了，没有人受伤").priority == 3


def test_no_rule_no_suggestion() -> None:
    s = classify("你好，我想说一件事")
    assert (s.category, s.subcategory, s.priority, s.rule, s.matched) == ("", "", None, "", ())
    assert s.version == classifier.RULES_VERSION


def test_the_table_is_consistent() -> None:
    keys = [rule.key for rule in classifier.RULES]
    assert len(keys) == len(set(keys))
    for rule in classifier.RULES:
        assert rule.category in Category.values
        assert rule.subcategory in classifier.SUBCATEGORIES[rule.category]
        assert rule.priority in (1, 2, 3, 4)
        assert rule.keywords and all(rule.keywords)
    assert set(classifier.SUBCATEGORIES) == set(Category.values)
    assert all("other" in subs for subs in classifier.SUBCATEGORIES.values())


@given(st.text(max_size=200))
def test_any_text_gets_a_well_formed_suggestion(text: str) -> None:
    s = classify(text)
    if s.category:
        assert s.subcategory in classifier.SUBCATEGORIES[s.category]
        assert s.priority in (1, 2, 3, 4)
        assert s.matched and all(word in text for word in s.matched)
    else:
        assert (s.subcategory, s.priority, s.matched) == ("", None, ())


@pytest.mark.parametrize(("a", "b", "ok"), [
    ("criminal", "criminal", True), ("criminal", "public_order", True), ("public_order", "dispute", True),
    ("traffic", "assistance", True), ("fire", "assistance", True), ("", "traffic", True), ("fire", "", True),
    ("traffic", "criminal", False), ("fire", "dispute", False), ("non_police", "criminal", False),
    ("invalid", "", False), ("invalid", "criminal", False), ("invalid", "invalid", True),
])
def test_compatible_categories(a: str, b: str, ok: bool) -> None:
    assert classifier.compatible(a, b) is ok
    assert classifier.compatible(b, a) is ok
