"""Sign-in: password, lockout, TOTP second factor, logout, CSRF, cookies, CSP."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import TEST_PASSWORD, Tree, make_tree, make_user

pytestmark = pytest.mark.django_db

GENERIC_ERROR = "用户名或密码错误，或账号已被暂时锁定。"


@pytest.fixture
def tree() -> Tree:
    return make_tree()


@pytest.fixture
def officer(tree: Tree) -> User:
    return make_user("wang", [("officer", tree.station_a1a)])


@pytest.fixture(autouse=True)
def _no_otp_throttle(settings: Any) -> None:
    # django-otp delays the next try after a wrong code; tests try right after.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def _login(client: Client, username: str, password: str = TEST_PASSWORD, **extra: str) -> Any:
    return client.post("/login", {"username": username, "password": password, **extra})


def _auth_entries() -> list[tuple[str, str, str]]:
    return [(e.actor_username, e.outcome, e.details.get("reason", ""))
            for e in AuditEntry.objects.filter(action="auth.login").order_by("id")]


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


# --- password -------------------------------------------------------------------

def test_login_page_renders_in_chinese_by_default(client: Client) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-Hans"' in html
    assert '<label for="id_username">用户名' in html
    assert '<label for="id_password">密码' in html


def test_login_succeeds_and_lands_on_my_tasks(client: Client, officer: User) -> None:
    response = _login(client, "wang")
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "我的待办" in home.content.decode()
    assert _auth_entries() == [("wang", "allowed", "")]
    officer.refresh_from_db()
    assert officer.last_login is not None


def test_login_rotates_the_session_key(client: Client, officer: User) -> None:
    before = client.session.session_key  # an anonymous session exists
    _login(client, "wang")
    assert client.session.session_key != before


def test_login_follows_a_safe_next_and_ignores_an_offsite_one(client: Client, officer: User) -> None:
    assert _login(client, "wang", next="/purpose")["Location"] == "/purpose"
    client.post("/logout")
    assert _login(client, "wang", next="https://evil.example/x")["Location"] == "/"


def test_wrong_password_shows_the_generic_message_and_is_audited(client: Client, officer: User) -> None:
    response = _login(client, "wang", "not-the-password")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<p class="alert" role="alert" id="login-error">{GENERIC_ERROR}</p>' in html
    assert client.get("/").status_code == 302
    assert _auth_entries() == [("wang", "denied", "wrong password")]
    officer.refresh_from_db()
    assert officer.failed_logins == 1


def test_unknown_user_gets_the_same_message(client: Client, officer: User) -> None:
    response = _login(client, "nobody", "whatever-it-is")
    assert GENERIC_ERROR in response.content.decode()
    entry = AuditEntry.objects.get(action="auth.login")
    assert (entry.actor_username, entry.outcome, entry.details) == (
        "", "denied", {"username": "nobody", "reason": "unknown user"})


def test_lockout_after_max_failures_refuses_even_the_right_password(client: Client, officer: User) -> None:
    limit = settings.JINGWU_LOGIN_MAX_FAILURES
    for _ in range(limit):
        assert GENERIC_ERROR in _login(client, "wang", "wrong-password").content.decode()
    officer.refresh_from_db()
    assert officer.failed_logins == limit
    assert officer.is_locked()

    response = _login(client, "wang", TEST_PASSWORD)
    assert response.status_code == 200
    assert GENERIC_ERROR in response.content.decode()
    assert client.get("/").status_code == 302  # still not signed in

    entries = list(AuditEntry.objects.filter(action="auth.login").order_by("id"))
    assert [(e.outcome, e.details.get("reason"), e.details.get("failed_logins")) for e in entries] == [
        *[("denied", "wrong password", n) for n in range(1, limit + 1)],
        ("denied", "account locked", None),
    ]
    assert "locked_until" in entries[limit - 1].details
    assert "locked_until" not in entries[limit - 2].details


def test_success_resets_the_failure_count(client: Client, officer: User) -> None:
    _login(client, "wang", "wrong-password")
    _login(client, "wang", "wrong-password")
    _login(client, "wang")
    officer.refresh_from_db()
    assert (officer.failed_logins, officer.locked_until) == (0, None)


def test_inactive_user_cannot_sign_in(client: Client, officer: User) -> None:
    User.objects.filter(pk=officer.pk).update(is_active=False)
    assert GENERIC_ERROR in _login(client, "wang").content.decode()


# --- second factor ----------------------------------------------------------------

@pytest.fixture
def admin(tree: Tree) -> User:
    return make_user("li_admin", [("administrator", tree.province)])


@pytest.fixture
def admin_device(admin: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)


def test_administrator_must_pass_totp_before_any_page(client: Client, admin: User, admin_device: TOTPDevice) -> None:
    response = _login(client, "li_admin")
    assert response["Location"] == "/login/otp"
    for path in ("/", "/purpose", "/audit"):
        blocked = client.get(path)
        assert (path, blocked.status_code, blocked["Location"]) == (path, 302, "/login/otp")
    assert client.get("/api/me").status_code == 401
    assert _auth_entries() == []  # the sign-in is not complete yet

    page = client.get("/login/otp")
    assert page.status_code == 200
    assert '<label for="id_token">6 位动态验证码' in page.content.decode()

    wrong = client.post("/login/otp", {"token": code_for(admin_device, offset=+10)})
    assert wrong.status_code == 200
    assert "验证码错误或已过期，请重新输入。" in wrong.content.decode()
    assert client.get("/")["Location"] == "/login/otp"
    assert _auth_entries() == [("li_admin", "denied", "wrong second-factor code")]

    right = client.post("/login/otp", {"token": code_for(admin_device)})
    assert (right.status_code, right["Location"]) == (302, "/")
    assert client.get("/").status_code == 200
    assert client.get("/api/me").json()["username"] == "li_admin"
    last = AuditEntry.objects.filter(action="auth.login").order_by("-id").first()
    assert last is not None
    assert (last.outcome, last.details) == ("allowed", {"second_factor": True})


def test_malformed_code_is_an_error_next_to_the_field(client: Client, admin: User, admin_device: TOTPDevice) -> None:
    _login(client, "li_admin")
    html = client.post("/login/otp", {"token": "12ab"}).content.decode()
    assert '<small id="id_token-error" class="field-error">请输入 6 位数字验证码。</small>' in html
    assert 'aria-invalid="true"' in html


def test_officer_needs_no_second_factor(client: Client, officer: User) -> None:
    assert _login(client, "wang")["Location"] == "/"
    assert client.get("/login/otp")["Location"] == "/"


def test_administrator_without_a_device_sets_one_up(client: Client, admin: User) -> None:
    assert _login(client, "li_admin")["Location"] == "/login/otp/setup"
    assert client.get("/login/otp")["Location"] == "/login/otp/setup"
    assert client.get("/")["Location"] == "/login/otp/setup"
    page = client.get("/login/otp/setup")
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=admin)
    assert device.confirmed is False
    assert '<svg role="img" aria-labelledby="qr-title"' in html
    assert "style=" not in html  # CSP: style-src 'self' forbids style attributes
    assert "<script>" not in html
    # The same device (and secret) on a reload, not a new one each time.
    client.get("/login/otp/setup")
    assert TOTPDevice.objects.filter(user=admin).count() == 1

    wrong = client.post("/login/otp/setup", {"token": code_for(device, offset=+10)})
    assert "验证码错误或已过期，请重新输入。" in wrong.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False

    right = client.post("/login/otp/setup", {"token": code_for(device)})
    assert right["Location"] == "/"
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.get("/").status_code == 200
    assert list(AuditEntry.objects.filter(action__startswith="auth.totp").values_list("action", "outcome")
                .order_by("id")) == [("auth.totp_enrol", "allowed"), ("auth.totp_confirm", "denied"),
                                     ("auth.totp_confirm", "allowed")]


def test_wrong_codes_count_towards_the_lockout(client: Client, admin: User, admin_device: TOTPDevice) -> None:
    _login(client, "li_admin")
    for _ in range(settings.JINGWU_LOGIN_MAX_FAILURES - 1):
        client.post("/login/otp", {"token": code_for(admin_device, offset=+10)})
    last = client.post("/login/otp", {"token": code_for(admin_device, offset=+10)})
    assert last["Location"] == "/login"
    admin.refresh_from_db()
    assert admin.is_locked()
    assert client.get("/")["Location"].startswith("/login")  # signed out


# --- logout, CSRF, cookies, CSP --------------------------------------------------

def test_logout_is_post_only_and_ends_the_session(client: Client, officer: User) -> None:
    _login(client, "wang")
    assert client.get("/logout").status_code == 405
    response = client.post("/logout")
    assert (response.status_code, response["Location"]) == (302, "/login")
    assert client.get("/")["Location"] == "/login?next=/"


def test_csrf_is_enforced_on_login(officer: User) -> None:
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/login", {"username": "wang", "password": TEST_PASSWORD})
    assert refused.status_code == 403
    assert "请求已过期" in refused.content.decode()
    page = client.get("/login")
    token = page.cookies["csrftoken"].value
    accepted = client.post("/login", {"username": "wang", "password": TEST_PASSWORD, "csrfmiddlewaretoken": token})
    assert (accepted.status_code, accepted["Location"]) == (302, "/")


def test_csrf_is_enforced_on_portal_posts(officer: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    assert client.post("/purpose", {"text": "核查盗窃案嫌疑人", "hours": 8}).status_code == 403
    assert client.post("/logout").status_code == 403


def test_session_cookie_flags(client: Client, officer: User) -> None:
    response = _login(client, "wang")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"


def test_content_security_policy_header(client: Client) -> None:
    response = client.get("/login")
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    html = response.content.decode()
    assert "style=" not in html
    assert "<script>" not in html
    assert '<script src="/static/vendor/htmx.min.js" defer></script>' in html
