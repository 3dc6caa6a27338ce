"""The call classifier: Chinese keywords and rules in one versioned table.

It only suggests; the dispatcher confirms or corrects, and `selectors.classification_corrections`
counts the corrections per rule so the table can be improved. Change a rule → bump
RULES_VERSION, so the counts of the old and the new table stay apart.

How a text is read: every rule whose keywords occur is a match; the match with the longest
keyword wins (a tie goes to the rule higher in the table), so "电动车被偷" (theft) beats
"电动车" alone. The winning rule gives category, subcategory and a base priority; urgency
words ("正在", "持刀", "流血" …) raise the priority to 1 unless the category never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _

RULES_VERSION: Final = "2026.1"


class Category(models.TextChoices):
    CRIMINAL = "criminal", _("刑事")
    PUBLIC_ORDER = "public_order", _("治安")
    TRAFFIC = "traffic", _("交通")
    FIRE = "fire", _("火灾")
    ASSISTANCE = "assistance", _("求助")
    DISPUTE = "dispute", _("纠纷")
    COMPLAINT = "complaint", _("举报投诉")
    NON_POLICE = "non_police", _("非警务")
    INVALID = "invalid", _("无效")


class Priority(models.IntegerChoices):
    URGENT = 1, _("一级（紧急）")
    HIGH = 2, _("二级（较急）")
    NORMAL = 3, _("三级（一般）")
    LOW = 4, _("四级（非紧急）")


_C = Category

# Subcategories per category: key → label. "other" exists in every category.
SUBCATEGORIES: Final[dict[str, dict[str, object]]] = {
    _C.CRIMINAL: {"theft": _("盗窃"), "robbery": _("抢劫"), "snatching": _("抢夺"), "fraud": _("诈骗"),
                  "assault": _("故意伤害"), "homicide": _("杀人"), "sexual_assault": _("强奸猥亵"),
                  "kidnapping": _("绑架拐卖"), "burglary": _("入室盗窃"), "drugs": _("涉毒"),
                  "weapons": _("涉枪涉爆"), "other": _("其他刑事")},
    _C.PUBLIC_ORDER: {"fighting": _("打架斗殴"), "gambling": _("赌博"), "prostitution": _("卖淫嫖娼"),
                      "noise": _("噪声扰民"), "harassment": _("寻衅滋事"), "drunk": _("醉酒滋事"),
                      "other": _("其他治安")},
    _C.TRAFFIC: {"accident_injury": _("交通事故（有伤亡）"), "accident": _("交通事故（无伤亡）"),
                 "hit_and_run": _("肇事逃逸"), "drunk_driving": _("酒驾醉驾"), "congestion": _("交通堵塞"),
                 "other": _("其他交通")},
    _C.FIRE: {"building": _("建筑火灾"), "vehicle": _("车辆火灾"), "outdoor": _("野外火灾"),
              "explosion": _("爆炸"), "other": _("其他火灾")},
    _C.ASSISTANCE: {"missing_person": _("人员走失"), "trapped": _("被困"), "drowning": _("溺水"),
                    "medical": _("突发疾病受伤"), "suicide": _("轻生"), "lost_property": _("物品遗失"),
                    "other": _("其他求助")},
    _C.DISPUTE: {"family": _("家庭纠纷"), "neighbour": _("邻里纠纷"), "economic": _("经济纠纷"),
                 "labour": _("劳资纠纷"), "consumer": _("消费纠纷"), "other": _("其他纠纷")},
    _C.COMPLAINT: {"report": _("举报违法犯罪"), "police_conduct": _("投诉民警"), "other": _("其他举报投诉")},
    _C.NON_POLICE: {"utilities": _("水电气暖"), "municipal": _("市政设施"), "consumer": _("消费维权"),
                    "labour": _("劳动保障"), "enquiry": _("咨询"), "other": _("其他非警务")},
    _C.INVALID: {"silent": _("无声电话"), "misdial": _("误拨"), "harassing": _("骚扰电话"),
                 "prank": _("谎报恶作剧"), "other": _("其他无效")},
}


@dataclass(frozen=True)
class Rule:
    key: str
    category: str
    subcategory: str
    priority: int
    keywords: tuple[str, ...]


def _r(key: str, category: str, subcategory: str, priority: int, keywords: str) -> Rule:
    return Rule(key, category, subcategory, priority, tuple(keywords.split()))


# The table. Order breaks ties between equally long keywords: put the more specific rule first.
RULES: Final[tuple[Rule, ...]] = (
    # 刑事
    _r("homicide", _C.CRIMINAL, "homicide", 1, "杀人 杀死 砍死 捅死 命案 尸体"),
    _r("robbery", _C.CRIMINAL, "robbery", 1, "抢劫 打劫 抢钱 持刀抢"),
    _r("snatching", _C.CRIMINAL, "snatching", 1, "抢夺 飞车抢 抢包 抢手机 抢项链"),
    _r("kidnapping", _C.CRIMINAL, "kidnapping", 1, "绑架 绑走 拐卖 拐走 被人贩子"),
    _r("sexual_assault", _C.CRIMINAL, "sexual_assault", 1, "强奸 猥亵 性侵"),
    _r("weapons", _C.CRIMINAL, "weapons", 1, "开枪 枪声 持枪 炸药 爆炸物"),
    _r("assault", _C.CRIMINAL, "assault", 1, "砍人 捅人 持刀伤人 被砍 被捅 故意伤害 打伤"),
    _r("burglary", _C.CRIMINAL, "burglary", 2, "入室盗窃 家里被盗 家里被偷 撬门 撬锁 进了小偷 家中被盗"),
    _r("theft", _C.CRIMINAL, "theft", 3, "被盗 被偷 偷了 小偷 扒手 盗窃 丢了电动车 电动车被偷 车被偷"),
    _r("fraud", _C.CRIMINAL, "fraud", 2, "被骗 诈骗 骗子 刷单 转账被骗 冒充客服 冒充公检法 杀猪盘 投资理财被骗"),
    _r("drugs", _C.CRIMINAL, "drugs", 2, "吸毒 贩毒 毒品 冰毒"),
    # 治安
    _r("fighting", _C.PUBLIC_ORDER, "fighting", 2, "打架 斗殴 打起来了 互殴 群殴 动手打人 打人"),
    _r("gambling", _C.PUBLIC_ORDER, "gambling", 3, "赌博 聚赌 赌场 打牌赌钱"),
    _r("prostitution", _C.PUBLIC_ORDER, "prostitution", 3, "卖淫 嫖娼 招嫖"),
    _r("noise", _C.PUBLIC_ORDER, "noise", 4, "噪音 噪声 太吵 扰民 装修声 广场舞"),
    _r("drunk", _C.PUBLIC_ORDER, "drunk", 2, "醉酒 喝醉 耍酒疯 酒后闹事"),
    _r("harassment", _C.PUBLIC_ORDER, "harassment", 2, "寻衅滋事 闹事 砸东西 堵门 骚扰我 跟踪我"),
    # 交通
    _r("traffic_injury", _C.TRAFFIC, "accident_injury", 1, "车祸有人受伤 撞伤 撞死 被车撞 车祸受伤 有人被撞"),
    _r("hit_and_run", _C.TRAFFIC, "hit_and_run", 2, "肇事逃逸 撞了就跑 逃逸"),
    _r("drunk_driving", _C.TRAFFIC, "drunk_driving", 2, "酒驾 醉驾 喝酒开车"),
    _r("traffic_accident", _C.TRAFFIC, "accident", 3, "车祸 追尾 剐蹭 撞车 交通事故 撞了"),
    _r("congestion", _C.TRAFFIC, "congestion", 4, "堵车 堵死了 交通堵塞 挡道 乱停车 占道"),
    # 火灾
    _r("explosion", _C.FIRE, "explosion", 1, "爆炸了 发生爆炸 燃气爆炸 煤气爆炸"),
    _r("vehicle_fire", _C.FIRE, "vehicle", 1, "车着火 汽车着火 电动车着火 车辆起火 自燃"),
    _r("outdoor_fire", _C.FIRE, "outdoor", 2, "山火 秸秆 荒草着火 树林着火"),
    _r("building_fire", _C.FIRE, "building", 1, "着火 起火 失火 火灾 冒烟 烧起来"),
    # 求助
    _r("suicide", _C.ASSISTANCE, "suicide", 1, "跳楼 轻生 自杀 割腕 不想活"),
    _r("drowning", _C.ASSISTANCE, "drowning", 1, "溺水 落水 掉河里 掉水里"),
    _r("trapped", _C.ASSISTANCE, "trapped", 2, "被困 困在电梯 锁在屋里 出不来"),
    _r("missing_person", _C.ASSISTANCE, "missing_person", 2, "走失 走丢 找不到孩子 孩子丢了 老人走丢 失踪"),
    _r("medical", _C.ASSISTANCE, "medical", 1, "晕倒 昏迷 抽搐 突发疾病 摔倒受伤 没有呼吸"),
    _r("lost_property", _C.ASSISTANCE, "lost_property", 4, "丢了钱包 东西丢了 遗失 落在出租车 捡到"),
    # 纠纷
    _r("family_dispute", _C.DISPUTE, "family", 3, "家暴 两口子吵架 夫妻吵架 家庭矛盾 婆媳"),
    _r("neighbour_dispute", _C.DISPUTE, "neighbour", 3, "邻居吵架 邻里 楼上漏水 占用车位"),
    _r("labour_dispute", _C.DISPUTE, "labour", 3, "讨薪 欠工资 拖欠工资 工钱"),
    _r("consumer_dispute", _C.DISPUTE, "consumer", 4, "不给退款 商家 饭店吵架 打车纠纷 车费"),
    _r("economic_dispute", _C.DISPUTE, "economic", 4, "欠钱不还 借钱不还 欠款"),
    # 举报投诉
    _r("report", _C.COMPLAINT, "report", 3, "举报 有人在卖假 窝点"),
    _r("police_conduct", _C.COMPLAINT, "police_conduct", 4, "投诉民警 投诉警察 民警态度"),
    # 非警务
    _r("utilities", _C.NON_POLICE, "utilities", 4, "停水 停电 停气 没有暖气 供暖 燃气费 水管爆了"),
    _r("municipal", _C.NON_POLICE, "municipal", 4, "路灯不亮 井盖 垃圾没人清 下水道堵"),
    _r("consumer_rights", _C.NON_POLICE, "consumer", 4, "退货 质量问题 投诉商家 假冒伪劣"),
    _r("labour_rights", _C.NON_POLICE, "labour", 4, "社保 劳动合同 工伤认定"),
    _r("enquiry", _C.NON_POLICE, "enquiry", 4, "咨询 请问 怎么办理 办身份证 户口怎么"),
    # 无效
    _r("silent", _C.INVALID, "silent", 4, "无声 没人说话 无人应答"),
    _r("misdial", _C.INVALID, "misdial", 4, "打错了 误拨 按错了 不小心拨"),
    _r("harassing_call", _C.INVALID, "harassing", 4, "骚扰电话 谩骂接警员 辱骂"),
    _r("prank", _C.INVALID, "prank", 4, "恶作剧 开玩笑 测试一下"),
)

# Words that make almost any call urgent: violence or danger happening now.
URGENT_WORDS: Final = ("正在", "持刀", "拿刀", "流血", "出血", "救命", "快来", "受伤", "昏迷", "着火")
# An urgency word right after one of these is denied ("没人受伤", "未流血"): it does not count.
_NEGATIONS: Final = ("没有人", "没人", "没有", "无人", "没", "无", "未", "不")
# Categories whose priority is never raised by those words (an invalid call saying "救命" is still invalid).
_NEVER_URGENT: Final = frozenset({_C.INVALID, _C.NON_POLICE, _C.COMPLAINT})

RULES_BY_KEY: Final = {rule.key: rule for rule in RULES}
assert len(RULES_BY_KEY) == len(RULES), "rule keys must be unique"
assert all(rule.subcategory in SUBCATEGORIES[rule.category] for rule in RULES), "unknown subcategory in RULES"


@dataclass(frozen=True)
class Suggestion:
    category: str  # "" when no rule matched: the dispatcher decides alone
    subcategory: str
    priority: int | None
    rule: str
    version: str
    matched: tuple[str, ...]  # the keywords found


def classify(text: str) -> Suggestion:
    """Suggest category, subcategory and priority for a call's text."""
    best: tuple[int, int, Rule] | None = None
    matched: list[str] = []
    for position, rule in enumerate(RULES):
        hits = [word for word in rule.keywords if word in text]
        if not hits:
            continue
        longest = max(len(word) for word in hits)
        if best is None or (longest, -position) > (best[0], -best[1]):
            best = (longest, position, rule)
            matched = hits
    if best is None:
        return Suggestion("", "", None, "", RULES_VERSION, ())
    rule = best[2]
    priority = rule.priority
    urgent = [word for word in URGENT_WORDS if _asserted(word, text)]
    if urgent and rule.category not in _NEVER_URGENT:
        priority = 1
        matched = [*matched, *urgent]
    return Suggestion(rule.category, rule.subcategory, priority, rule.key, RULES_VERSION, tuple(matched))


# Categories one event may be reported under by different callers (a fight seen as a crime,
# a crash seen as a call for help): a call of one may join an incident of the other.
_RELATED: Final = frozenset({
    frozenset({_C.CRIMINAL, _C.PUBLIC_ORDER}), frozenset({_C.PUBLIC_ORDER, _C.DISPUTE}),
    frozenset({_C.CRIMINAL, _C.DISPUTE}), frozenset({_C.TRAFFIC, _C.ASSISTANCE}),
    frozenset({_C.FIRE, _C.ASSISTANCE}),
})


def compatible(a: str, b: str) -> bool:
    """May calls classified `a` and `b` be about one event? Unknown ("") fits anything but an invalid call."""
    if _C.INVALID in (a, b):
        return a == b
    return not a or not b or a == b or frozenset({a, b}) in _RELATED


def _asserted(word: str, text: str) -> bool:
    """The word occurs at least once without a negation right before it."""
    start = text.find(word)
    while start != -1:
        if not text[:start].endswith(_NEGATIONS):
            return True
        start = text.find(word, start + 1)
    return False


def subcategory_label(category: str, subcategory: str) -> str:
    return str(SUBCATEGORIES.get(category, {}).get(subcategory, subcategory))


def subcategory_choices() -> list[tuple[str, str]]:
    """(category:subcategory, label) pairs for forms and the API's documentation."""
    return [(f"{cat}:{key}", f"{Category(cat).label} · {label}")
            for cat, subs in SUBCATEGORIES.items() for key, label in subs.items()]
