from __future__ import annotations

import pytest
from django.test import Client

from jingwu.core.models import AuditEntry
from jingwu.core.tests.factories import make_tree, make_user

pytestmark = pytest.mark.django_db


def test_an_english_browser_still_gets_chinese_until_the_switch_is_used(client: Client) -> None:
    tree = make_tree()
    client.force_login(make_user("wang", [("officer", tree.station_a1a)]))
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-Hans"' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/"}, HTTP_ACCEPT_LANGUAGE="en-US")
    assert '<html lang="en"' in client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


def test_signing_out_is_audited(client: Client) -> None:
    tree = make_tree()
    client.force_login(make_user("wang", [("officer", tree.station_a1a)]))
    response = client.post("/logout")
    assert response.status_code == 302
    last = AuditEntry.objects.order_by("-id").first()
    assert last is not None
    assert (last.action, last.actor_username, last.outcome) == ("auth.logout", "wang", "allowed")
    assert client.get("/").status_code == 302
