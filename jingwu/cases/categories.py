"""Offence and matter categories 案由, by case type. A case has one main category and may
carry more; dispatch hands over its own category key, which must be one of these."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from jingwu.cases.workflow import CaseType

CATEGORIES: dict[str, dict[str, object]] = {
    CaseType.CRIMINAL: {
        "theft": _("盗窃"),
        "fraud": _("诈骗"),
        "telecom_fraud": _("电信网络诈骗"),
        "robbery": _("抢劫"),
        "snatching": _("抢夺"),
        "burglary": _("入室盗窃"),
        "assault": _("故意伤害"),
        "homicide": _("故意杀人"),
        "rape": _("强奸"),
        "kidnapping": _("绑架"),
        "drugs": _("毒品犯罪"),
        "arson": _("放火"),
        "dangerous_driving": _("危险驾驶"),
        "affray": _("寻衅滋事"),
        "extortion": _("敲诈勒索"),
        "other_criminal": _("其他刑事案件"),
    },
    CaseType.ADMINISTRATIVE: {
        "beating": _("殴打他人"),
        "minor_theft": _("盗窃（治安）"),
        "disorder": _("扰乱公共秩序"),
        "gambling": _("赌博"),
        "prostitution": _("卖淫嫖娼"),
        "property_damage": _("故意损毁财物"),
        "harassment": _("发送信息干扰他人正常生活"),
        "drug_use": _("吸毒"),
        "other_administrative": _("其他治安案件"),
    },
    CaseType.DISPUTE: {
        "neighbour": _("邻里纠纷"),
        "family": _("家庭纠纷"),
        "labour": _("劳资纠纷"),
        "consumer": _("消费纠纷"),
        "traffic": _("交通事故纠纷"),
        "property": _("房屋土地纠纷"),
        "other_dispute": _("其他纠纷"),
    },
}


def label(category: str) -> str:
    for table in CATEGORIES.values():
        if category in table:
            return str(table[category])
    return category


def choices(case_type: str) -> list[tuple[str, str]]:
    return [(key, str(value)) for key, value in CATEGORIES.get(case_type, {}).items()]


def all_choices() -> list[tuple[str, str]]:
    return [(key, str(value)) for table in CATEGORIES.values() for key, value in table.items()]
