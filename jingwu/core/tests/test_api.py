"""The HTTP API's surface: the schema, authentication answers in JSON, no server errors on bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jingwu.core import tokens
from jingwu.core.models import User
from jingwu.core.tests.factories import make_tree, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def wang(db: None) -> User:
    return make_user("wang", [("officer", make_tree().station_a1a)])


def test_the_schema_lists_me_with_both_ways_in(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "jingwu API"
    assert schema["components"]["securitySchemes"] == {
        "BearerTokenAuth": {"type": "http", "scheme": "bearer"},
        "SessionAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
    }
    me = schema["paths"]["/api/me"]["get"]
    assert me["security"] == [{"BearerTokenAuth": []}, {"SessionAuth": []}]
    assert sorted(schema["components"]["schemas"]["MeOut"]["properties"]) == ["display_name", "roles", "username"]


def test_unauthenticated_is_401_with_a_json_body(client: Client) -> None:
    response = client.get("/api/me")
    assert (response.status_code, response["Content-Type"], response.json()) == (
        401, "application/json; charset=utf-8", {"detail": "Unauthorized"})


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "Basic d2FuZzpwdw==", "Token abc", "Bearer a b c", "Bearer jw__", "Bearer jw_%00_x",
    "Bearer " + "jw_" + "a" * 10_000, "Bearer 鲁A12345",
])
def test_malformed_credentials_are_401_json_never_500(wang: User, client: Client, header: str) -> None:
    response = client.get("/api/me", HTTP_AUTHORIZATION=header)
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})


def test_me_with_a_session(wang: User, client: Client, django_assert_num_queries: Any) -> None:
    client.force_login(wang)
    # session, user, the user's roles (once, shared by the 2FA check and check()), the listed roles
    with django_assert_num_queries(4):
        response = client.get("/api/me")
    assert response.status_code == 200
    assert response.json() == {"username": "wang", "display_name": "wang",
                               "roles": [{"role": "officer", "unit_code": "370102S01", "unit_name": "泉城路派出所"}]}


def test_me_with_a_token_costs_a_fixed_number_of_queries(wang: User, client: Client,
                                                         django_assert_num_queries: Any) -> None:
    secret = tokens.token_create(actor=None, user=wang, scopes=["read"], days=1).secret
    client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {secret}")  # stamps last_used_at
    # token with its user, the user's roles, the listed roles
    with django_assert_num_queries(3):
        response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.json()["username"] == "wang"


def test_a_user_without_portal_access_is_refused_not_an_error(client: Client) -> None:
    client.force_login(make_user("norole"))
    response = client.get("/api/me")
    assert response.status_code == 403
    assert response.json() == {"detail": "portal.use not permitted", "code": "forbidden"}


def test_a_token_outside_its_scope_is_refused_with_json_and_audited(wang: User, client: Client) -> None:
    from jingwu.core.models import AuditEntry

    feed = tokens.token_create(actor=None, user=wang, scopes=["antifraud.signals"], days=1)
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {feed.secret}")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "this token's scopes ['antifraud.signals'] do not include 'read'", "code": "scope"}
    last = AuditEntry.objects.order_by("-id").first()
    assert last is not None
    assert (last.action, last.outcome, last.actor_username, last.object_id, last.details["needed"]) == (
        "api.scope", "denied", "wang", feed.token.prefix, "read")
    everything = tokens.token_create(actor=None, user=wang, scopes=["*"], days=1)
    assert client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {everything.secret}").status_code == 200


def test_a_role_needing_a_second_factor_is_refused_until_it_is_passed(client: Client) -> None:
    admin = make_user("li_admin", [("administrator", make_tree().province)])
    client.force_login(admin)
    assert client.get("/api/me").status_code == 401
