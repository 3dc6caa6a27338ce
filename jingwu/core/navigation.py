"""The portal's menu: each entry shows only to users whose roles allow its action.
Later modules append their entries to NAV."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from jingwu.core import access
from jingwu.core.access import Action
from jingwu.core.models import User


@dataclass(frozen=True)
class NavEntry:
    url_name: str
    label: object
    action: str


NAV: list[NavEntry] = [
    NavEntry("core:home", _("我的待办"), Action.PORTAL_USE),
    NavEntry("core:purpose", _("查询事由"), Action.PORTAL_USE),
    NavEntry("search:page", _("警务千度"), Action.SEARCH_QUERY),
    NavEntry("core:audit", _("审计日志"), Action.AUDIT_READ),
    NavEntry("records:review_queue", _("关联复核"), Action.RECORDS_LINK_REVIEW),
    NavEntry("records:imports", _("数据导入"), Action.RECORDS_IMPORT),
    NavEntry("dispatch:intake", _("接处警"), Action.INCIDENT_RECORD),
    NavEntry("dispatch:board", _("指挥大屏"), Action.INCIDENT_DISPATCH),
    NavEntry("dispatch:my", _("我的出警"), Action.INCIDENT_RECORD),
    NavEntry("cases:list", _("案件"), Action.CASE_READ),
    NavEntry("cases:supervision", _("执法监督"), Action.SUPERVISION_READ),
    NavEntry("antifraud:reports", _("反诈报案"), Action.FRAUD_REPORT),
    NavEntry("antifraud:warnings", _("预警劝阻"), Action.WARNING_HANDLE),
    NavEntry("antifraud:networks", _("串并案"), Action.FRAUD_ANALYSE),
    NavEntry("antifraud:dashboard", _("反诈态势"), Action.FRAUD_ANALYSE),
    NavEntry("antifraud:lists", _("名单与规则"), Action.FRAUD_LISTS_MANAGE),
]


def menu_for(user: User) -> list[dict[str, object]]:
    items = []
    for entry in NAV:
        if not access.can(user, entry.action):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": entry.label})
    return items
