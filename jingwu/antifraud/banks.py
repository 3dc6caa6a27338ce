"""The banks and payment institutions a stop-payment request can go to, and where each
one's API answers. Kept free of Django models so the bank simulator can share the table."""

from __future__ import annotations

from typing import Final

from django.utils.translation import gettext_lazy as _

# Code → name. Codes are the banks' usual English abbreviations; the two payment
# institutions (Alipay, Tenpay/WeChat Pay) take stop-payment requests as banks do.
BANKS: Final = {
    "ICBC": _("中国工商银行"),
    "ABC": _("中国农业银行"),
    "BOC": _("中国银行"),
    "CCB": _("中国建设银行"),
    "BOCOM": _("交通银行"),
    "PSBC": _("中国邮政储蓄银行"),
    "CMB": _("招商银行"),
    "CITIC": _("中信银行"),
    "CEB": _("中国光大银行"),
    "HXB": _("华夏银行"),
    "CMBC": _("中国民生银行"),
    "CGB": _("广发银行"),
    "PAB": _("平安银行"),
    "SPDB": _("上海浦东发展银行"),
    "CIB": _("兴业银行"),
    "QLB": _("齐鲁银行"),
    "QDB": _("青岛银行"),
    "RCB-SD": _("山东省农村信用社"),
    "ALIPAY": _("支付宝"),
    "TENPAY": _("财付通（微信支付）"),
}
BANK_CODES: Final = tuple(BANKS)


def bank_name(code: str) -> str:
    return str(BANKS.get(code, code))


def bank_base_url(code: str) -> str:
    """The base URL of a bank's stop-payment API: its own when configured, else the simulator's."""
    from django.conf import settings

    own = settings.JINGWU_BANK_URLS.get(code)
    if own:
        return own.rstrip("/")
    return f"{settings.JINGWU_BANK_SIM_URL.rstrip('/')}/banks/{code}"
