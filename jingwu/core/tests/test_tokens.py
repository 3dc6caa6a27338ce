"""API bearer tokens, end to end: issued by `jingwu token create`, used against the API,
stored only as a hash, refused when wrong, expired or revoked, and every refusal audited."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone

from jingwu.core import tokens
from jingwu.core.models import ApiToken, AuditEntry, User
from jingwu.core.tests.factories import make_tree, make_user

pytestmark = pytest.mark.django_db

TOKEN_SHAPE = re.compile(r"jw_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")


@pytest.fixture
def wang(db: None) -> User:
    tree = make_tree()
    return make_user("wang", [("officer", tree.station_a1a)])


def _create(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("token", "create", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _issue(user: str = "wang", *scopes: str) -> str:
    out, _err = _create("--user", user, *[a for s in (scopes or ("read",)) for a in ("--scope", s)], "--days", "30")
    return out.strip()


def _me(client: Client, bearer: str) -> tuple[int, dict]:
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return response.status_code, response.json()


def test_create_prints_the_token_once_and_it_authenticates(wang: User, client: Client) -> None:
    out, err = _create("--user", "wang", "--scope", "read", "--scope", "dispatch.calls", "--days", "30",
                       "--name", "nightly export")
    secret = out.strip()
    assert out == secret + "\n"  # stdout carries nothing else, so `$(jingwu token create …)` is the token
    match = TOKEN_SHAPE.fullmatch(secret)
    assert match is not None
    token = ApiToken.objects.get()
    expires = timezone.localtime(token.expires_at).strftime("%Y-%m-%d %H:%M")
    assert err == (f"token id {token.pk}, prefix {match.group(1)}, user wang, scopes dispatch.calls,read, "
                   f"expires {expires}; the secret is not shown again\n")
    assert (token.prefix, token.name, token.scopes, token.user_id) == (
        match.group(1), "nightly export", ["dispatch.calls", "read"], wang.pk)
    assert timedelta(days=30) - timedelta(minutes=1) < token.expires_at - timezone.now() <= timedelta(days=30)

    status, body = _me(client, secret)
    assert (status, body["username"], body["roles"]) == (
        200, "wang", [{"role": "officer", "unit_code": "370102S01", "unit_name": "泉城路派出所"}])
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_only_the_hash_is_stored(wang: User) -> None:
    secret = _issue()
    random_part = secret.split("_", 2)[2]
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    # Read the raw row, every column, and the audit log: the secret is in none of them.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM core_apitoken")
        row = cursor.fetchone()
        cursor.execute("SELECT * FROM core_auditentry")
        audit_rows = cursor.fetchall()
    assert [v for v in row if random_part in str(v)] == []
    assert [r for r in audit_rows if any(random_part in str(v) for v in r)] == []


FORGERIES: dict[str, Callable[[str], str]] = {
    "one-char-off": lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),
    "prefix-only": lambda s: s.rsplit("_", 1)[0],
    "extra-char": lambda s: s + "x",
    "wrong-scheme": lambda s: s.replace("jw_", "jx_", 1),
    "non-ascii": lambda s: s[:-1] + "é",  # with a real prefix: a refusal, not a server error
    "wrong-prefix": lambda s: "jw_00000000_" + s.split("_", 2)[2],
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_wrong_token_is_refused(wang: User, client: Client, forgery: str) -> None:
    secret = _issue()
    assert _me(client, FORGERIES[forgery](secret)) == (401, {"detail": "Unauthorized"})


def test_an_expired_token_is_refused(wang: User, client: Client) -> None:
    secret = _issue()
    assert _me(client, secret)[0] == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _me(client, secret) == (401, {"detail": "Unauthorized"})


def test_a_revoked_token_is_refused_and_listed_as_revoked(wang: User, client: Client) -> None:
    secret = _issue()
    prefix = secret.split("_")[1]
    out = StringIO()
    call_command("token", "revoke", prefix, stdout=out)
    token = ApiToken.objects.get()
    assert out.getvalue() == f"revoked token {token.pk} ({prefix}) of wang\n"
    assert token.revoked_at is not None
    assert _me(client, secret) == (401, {"detail": "Unauthorized"})
    revoke = AuditEntry.objects.get(action="token.revoke")
    assert (revoke.object_type, revoke.object_id, revoke.outcome) == ("api_token", str(token.pk), "allowed")

    again = StringIO()
    call_command("token", "revoke", str(token.pk), stdout=again)  # by id, idempotent
    assert again.getvalue().startswith(f"token {token.pk} ({prefix}) was already revoked at ")
    assert AuditEntry.objects.filter(action="token.revoke").count() == 1


def test_a_token_of_a_deactivated_user_is_refused(wang: User, client: Client) -> None:
    secret = _issue()
    User.objects.filter(pk=wang.pk).update(is_active=False)
    assert _me(client, secret)[0] == 401


def test_a_failed_bearer_is_audited_as_denied(wang: User, client: Client) -> None:
    secret = _issue()
    prefix = secret.split("_")[1]
    ApiToken.objects.update(revoked_at=timezone.now())
    client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_X_REQUEST_ID="r-1")
    client.get("/api/me", HTTP_AUTHORIZATION="Bearer something-else", HTTP_X_REQUEST_ID="r-2")
    denied = AuditEntry.objects.filter(action="api.auth").order_by("pk")
    assert [(e.outcome, e.object_type, e.object_id, e.request_id, e.details) for e in denied] == [
        ("denied", "api_token", prefix, "r-1", {"reason": "invalid, expired or revoked token", "path": "/api/me"}),
        ("denied", "api_token", "", "r-2", {"reason": "invalid, expired or revoked token", "path": "/api/me"}),
    ]


def test_list_shows_tokens_but_never_secrets(wang: User) -> None:
    make_user("li")
    first, second = _issue("wang", "read"), _issue("li", "antifraud.signals", "antifraud.reports")
    call_command("token", "revoke", first.split("_")[1], stdout=StringIO())
    out = StringIO()
    call_command("token", "list", stdout=out)
    text = out.getvalue()
    for secret in (first, second):
        assert secret.split("_", 2)[2] not in text
    lines = [line.split("\t") for line in text.splitlines()]
    assert lines[0] == ["id", "prefix", "user", "name", "scopes", "expires", "revoked", "last used"]
    assert [(c[1], c[2], c[4], c[6] != "-", c[7]) for c in lines[1:]] == [
        (second.split("_")[1], "li", "antifraud.reports,antifraud.signals", False, "-"),
        (first.split("_")[1], "wang", "read", True, "-"),
    ]
    only = StringIO()
    call_command("token", "list", "--user", "li", stdout=only)
    assert [line.split("\t")[2] for line in only.getvalue().splitlines()[1:]] == ["li"]


@pytest.mark.parametrize(("args", "message"), [
    (["--user", "wang", "--scope", "everything", "--days", "5"],
     "unknown scope(s): everything; known: *, antifraud.lists, antifraud.reports, antifraud.signals, citizen.open311, "
     "dispatch.calls, dispatch.positions, read, records.push, safety.parcels"),
    (["--user", "nobody", "--scope", "read", "--days", "5"], "no user named 'nobody'"),
    (["--user", "wang", "--scope", "read", "--days", "0"], "days must be between 1 and 366"),
    (["--user", "wang", "--scope", "read", "--days", "367"], "days must be between 1 and 366"),
])
def test_bad_input_is_a_clear_command_error(wang: User, args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as caught:
        _create(*args)
    assert str(caught.value) == message
    assert ApiToken.objects.count() == 0


def test_revoking_an_unknown_token_is_a_command_error(wang: User) -> None:
    with pytest.raises(CommandError, match=r"^no token with id or prefix 'feedf00d'$"):
        call_command("token", "revoke", "feedf00d")


def test_scopes_limit_what_a_token_may_do(wang: User) -> None:
    feed = tokens.token_create(actor=None, user=wang, scopes=["antifraud.signals"], days=1).token
    full = tokens.token_create(actor=None, user=wang, scopes=["*"], days=1).token
    assert (tokens.token_allows(feed, "antifraud.signals"), tokens.token_allows(feed, "read")) == (True, False)
    assert (tokens.token_allows(full, "antifraud.signals"), tokens.token_allows(full, "read")) == (True, True)
