"""Chinese personal names for the synthetic population.

Surnames carry approximate relative frequencies (per 10,000 people, national figures
nudged toward Shandong, where 王 张 李 刘 孙 徐 孔 are more common); the point is a
plausible long-tailed distribution with many shared names, not census accuracy.
Given names draw from character pools that change with the decade of birth, because
that is what makes a name look its age (建国 and 秀英 are grandparents, 子轩 and 梓涵
schoolchildren).

Also here: the surnames whose pinyin reading differs from pypinyin's default, a small
simplified→traditional map of name characters (to make traditional-character noise
without a conversion library), and same-sound characters for realistic typos.
"""

from __future__ import annotations

import bisect
import functools
import random
from collections import defaultdict
from itertools import accumulate
from typing import Final

# (surname, relative frequency per 10,000). Compound surnames and the surnames with a
# special reading are included on purpose: search and linkage must cope with them.
SURNAME_FREQUENCIES: Final[tuple[tuple[str, float], ...]] = (
    ("王", 860), ("李", 760), ("张", 740), ("刘", 600), ("陈", 380), ("杨", 290), ("赵", 260),
    ("孙", 230), ("徐", 190), ("黄", 150), ("周", 150), ("吴", 140), ("马", 140), ("高", 130),
    ("郭", 120), ("朱", 110), ("胡", 100), ("于", 100), ("林", 80), ("何", 80), ("宋", 80),
    ("韩", 75), ("郑", 70), ("梁", 70), ("董", 70), ("曹", 65), ("田", 65), ("姜", 65),
    ("崔", 60), ("孔", 55), ("谢", 55), ("唐", 50), ("许", 50), ("冯", 50), ("邓", 45),
    ("彭", 40), ("曾", 35), ("肖", 40), ("袁", 40), ("潘", 35), ("蒋", 35), ("蔡", 35),
    ("余", 30), ("杜", 40), ("叶", 30), ("程", 40), ("苏", 35), ("魏", 40), ("吕", 40),
    ("丁", 40), ("任", 40), ("沈", 30), ("姚", 30), ("卢", 30), ("钟", 25), ("谭", 25),
    ("陆", 25), ("汪", 25), ("范", 30), ("金", 25), ("石", 30), ("廖", 20), ("贾", 35),
    ("夏", 25), ("韦", 15), ("付", 30), ("方", 25), ("白", 25), ("邹", 20), ("孟", 35),
    ("熊", 15), ("秦", 25), ("邱", 20), ("江", 20), ("尹", 20), ("薛", 25), ("闫", 25),
    ("段", 20), ("雷", 15), ("侯", 25), ("龙", 10), ("史", 20), ("陶", 15), ("黎", 10),
    ("贺", 15), ("顾", 15), ("毛", 15), ("郝", 20), ("龚", 10), ("邵", 15), ("万", 15),
    ("钱", 10), ("严", 10), ("武", 25), ("戴", 15), ("莫", 8), ("向", 8), ("汤", 10),
    ("牛", 20), ("葛", 15), ("鲁", 15), ("颜", 12), ("庞", 10), ("荆", 6), ("栾", 6),
    ("单", 15), ("解", 12), ("仇", 6), ("区", 2), ("查", 4), ("朴", 3), ("覃", 3),
    ("召", 1), ("缪", 3), ("盖", 8),
    ("欧阳", 4), ("司马", 2), ("诸葛", 2), ("上官", 1.5), ("东方", 1.5), ("皇甫", 1.5),
    ("夏侯", 1), ("令狐", 0.8), ("慕容", 0.8), ("公孙", 0.8),
)

# Readings for surnames where pypinyin's default (the common-word reading) is wrong.
SURNAME_READINGS: Final[dict[str, str]] = {
    "曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "区": "ou", "查": "zha", "朴": "piao",
    "覃": "qin", "召": "shao", "缪": "miao", "盖": "ge",
}

# Given-name characters by sex and birth era. Each era's pool is what parents of that
# time chose most; two-character names combine two draws from the pool.
_ERA_STARTS: Final = (1960, 1980, 2000)  # eras: before 1960, 1960s-70s, 1980s-90s, 2000 on
_GIVEN_POOLS: Final[dict[str, tuple[str, str, str, str]]] = {
    "M": (
        "建国志明德福贵富文忠军华成万金玉宝庆俊兴树林春广永山海义生发清顺长胜学先振荣",
        "建国军伟勇刚强平东红卫新华明志涛斌波辉宏峰民杰毅洪立海亮忠",
        "伟磊涛鹏超杰浩亮飞鑫宇帅凯斌博晨阳俊健龙强峰昊旭坤",
        "子梓浩宇轩睿博泽铭一俊皓晨宸辰奕逸然航嘉安沐锦熙煜",
    ),
    "F": (
        "秀英桂兰玉珍凤淑芬芳华香梅素翠荣琴云霞敏",
        "丽红艳霞燕萍玲静敏娟梅芳华英兰琴颖莉",
        "婷雪静丹慧倩颖晶琳敏佳璐洁娜萌悦宁蕾",
        "梓涵欣怡诗雨可馨语萱一诺思佳子琪婉依沐若瑶",
    ),
}
# Share of one-character given names per era (common in the 1980s-90s, rare since).
_SINGLE_CHAR_SHARE: Final = (0.25, 0.35, 0.40, 0.12)

# Simplified → traditional for the name characters above whose traditional form
# differs and converts back one-to-one (肖 is left out: its traditional surname form
# 蕭 converts back to 萧, a different surname).
TRADITIONAL: Final[dict[str, str]] = {
    **dict(zip("张刘陈杨黄赵吴孙马罗郑谢许韩冯邓蒋叶苏吕卢钟谭陆贾韦邹闫贺顾龚钱严汤单区缪盖鲁颜庞栾",
               "張劉陳楊黃趙吳孫馬羅鄭謝許韓馮鄧蔣葉蘇呂盧鍾譚陸賈韋鄒閆賀顧龔錢嚴湯單區繆蓋魯顏龐欒",
               strict=True)),
    **dict(zip("国贵军华万宝庆兴树广义发顺长胜学荣伟刚强东红卫涛辉杰鹏飞帅凯阳龙轩泽铭锦兰凤云丽艳静颖洁宁诗语诺瑶",
               "國貴軍華萬寶慶興樹廣義發順長勝學榮偉剛強東紅衛濤輝傑鵬飛帥凱陽龍軒澤銘錦蘭鳳雲麗艷靜穎潔寧詩語諾瑤",
               strict=True)),
    "欧": "歐", "诸": "諸",
}

SURNAMES: Final[tuple[str, ...]] = tuple(s for s, _w in SURNAME_FREQUENCIES)
_SURNAME_CUMULATIVE: Final = tuple(accumulate(w for _s, w in SURNAME_FREQUENCIES))
_SURNAME_TOTAL: Final = _SURNAME_CUMULATIVE[-1]


def surname_draw(rng: random.Random) -> str:
    return SURNAMES[bisect.bisect_right(_SURNAME_CUMULATIVE, rng.random() * _SURNAME_TOTAL)]


def _era(birth_year: int) -> int:
    return bisect.bisect_right(_ERA_STARTS, birth_year)


def given_name_draw(rng: random.Random, sex: str, birth_year: int) -> str:
    era = _era(birth_year)
    pool = _GIVEN_POOLS[sex][era]
    if rng.random() < _SINGLE_CHAR_SHARE[era]:
        return pool[int(rng.random() * len(pool))]
    return pool[int(rng.random() * len(pool))] + pool[int(rng.random() * len(pool))]


def to_traditional(name: str) -> str:
    return "".join(TRADITIONAL.get(ch, ch) for ch in name)


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name): a known compound surname takes two characters."""
    if len(name) >= 3 and name[:2] in _COMPOUND:
        return name[:2], name[2:]
    return name[:1], name[1:]


_COMPOUND: Final = frozenset(s for s in SURNAMES if len(s) == 2)


@functools.cache
def _homophones() -> dict[str, tuple[str, ...]]:
    """Given-name characters grouped by toneless pinyin: the typos people really make."""
    from pypinyin import Style, lazy_pinyin

    chars = sorted({ch for pools in _GIVEN_POOLS.values() for pool in pools for ch in pool})
    by_sound: dict[str, list[str]] = defaultdict(list)
    for ch in chars:
        by_sound[lazy_pinyin(ch, style=Style.NORMAL)[0]].append(ch)
    # A few extra same-sound characters that are easy to type instead.
    for sound, extra in {"wei": "维威为", "jing": "晶京敬", "li": "立力莉", "hong": "宏鸿虹", "jun": "君均",
                         "hua": "化", "ming": "铭名", "yan": "彦妍", "xin": "心信", "ying": "莹瑛"}.items():
        by_sound[sound].extend(c for c in extra if c not in by_sound[sound])
    return {ch: tuple(c for c in by_sound[sound] if c != ch)
            for sound, group in by_sound.items() for ch in group}


def name_with_typo(rng: random.Random, name: str) -> str:
    """The name with one given-name character replaced, by a same-sound one when there is one."""
    surname, given = split_name(name)
    if not given:
        return name
    pos = int(rng.random() * len(given))
    alternatives = _homophones().get(given[pos], ())
    if alternatives:
        replacement = alternatives[int(rng.random() * len(alternatives))]
    else:
        pool = _GIVEN_POOLS["M"][2] + _GIVEN_POOLS["F"][2]
        replacement = pool[int(rng.random() * len(pool))]
        if replacement == given[pos]:
            replacement = "文" if given[pos] != "文" else "武"
    return surname + given[:pos] + replacement + given[pos + 1:]
