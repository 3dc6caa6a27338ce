"""The portal shell: sign-in (password, lockout, TOTP), the "my tasks" inbox, the stated
purpose of access, the audit log, health. Views are thin: parse, authorise through
core.access, call a service or selector, render."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import django_otp
import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from jingwu.core import access, selectors, services
from jingwu.core.access import Action
from jingwu.core.forms import AuditFilterForm, LoginForm, PurposeForm, TokenForm, WorkItemStatusForm
from jingwu.core.models import User, WorkItem

View = Callable[..., HttpResponse]

NEXT_SESSION_KEY = "jingwu_next"
AUDIT_PAGE_SIZE = 50
INBOX_PAGE_SIZE = 50


# --- the gate every portal page passes ----------------------------------------

def _second_factor_pending(request: HttpRequest) -> bool:
    """Signed in with a password, but the roles want a TOTP code that has not been given yet."""
    user = request.user
    if not isinstance(user, User) or not access.needs_second_factor(user):
        return False
    return not user.is_verified()  # type: ignore[attr-defined]  # set by django_otp's OTPMiddleware


def _second_factor_url(user: User) -> str:
    if django_otp.user_has_device(user, confirmed=True):
        return reverse("core:login_otp")
    return reverse("core:login_otp_setup")


def portal_view(action: str = Action.PORTAL_USE) -> Callable[[View], View]:
    """Signed in (else to the sign-in page), second factor passed where the roles require it
    (else to the code page), and `action` allowed somewhere (else an audited 403)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            assert isinstance(user, User)
            if _second_factor_pending(request):
                return redirect(_second_factor_url(user))
            access.check(user, action, object_type="page", object_id=request.path, request=request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


Result = TypeVar("Result")


def portal_user(request: HttpRequest) -> User:
    """The signed-in user of a `portal_view` (the decorator lets nobody else through)."""
    user = request.user
    assert isinstance(user, User)
    return user


def form_action(request: HttpRequest, form: forms.Form, *, back: str, run: Callable[[dict[str, Any]], Result],
                invalid: str = "", done: str | Callable[[Result], str] = "") -> HttpResponse:
    """A small write posted from a portal page, answered the same way everywhere: back to the
    page it came from, with the form's or the service's refusal (or a forbidden action) as a
    message, and on success the `done` message if any."""
    if not form.is_valid():
        messages.error(request, invalid or _("提交的内容无效。"))
        return redirect(back)
    try:
        result = run(form.cleaned_data)
    except PermissionDenied:
        messages.error(request, _("您无权进行此操作。"))
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    else:
        if done:
            messages.success(request, done if isinstance(done, str) else done(result))
    return redirect(back)


def _shell(request: HttpRequest) -> dict[str, Any]:
    """Header facts of the signed-in user: the labels of the roles they hold, and their unit."""
    user = request.user
    assert isinstance(user, User)
    roles = sorted(str(access.ROLES[role].label) if role in access.ROLES else role for role in access.roles_of(user))
    return {"my_roles": roles, "my_unit": user.home_unit}


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


# --- health -------------------------------------------------------------------

@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok", "database": connection.vendor})
    except Exception as exc:  # health must answer, not raise
        return JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)


# --- sign-in --------------------------------------------------------------------

@login_not_required
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if isinstance(request.user, User):
        if _second_factor_pending(request):
            return redirect(_second_factor_url(request.user))
        return redirect(_safe_next(request, request.GET.get("next")))
    form = LoginForm(request.POST if request.method == "POST" else None)
    error = ""
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        password = form.cleaned_data["password"]
        account = selectors.user_for_sign_in(username)
        if account is not None and account.is_locked():
            services.login_locked_attempt(user=account)
        else:
            user = authenticate(request, username=username, password=password)
            if user is None:
                services.login_failed(user=account, username=username,
                                      reason="wrong password" if account is not None else "unknown user")
            else:
                assert isinstance(user, User)
                auth_login(request, user)  # a new session key: no fixation
                target = _safe_next(request, request.POST.get("next"))
                if access.needs_second_factor(user):
                    request.session[NEXT_SESSION_KEY] = target
                    return redirect(_second_factor_url(user))
                services.login_succeeded(user=user, second_factor=False)
                return redirect(target)
        # One message for a wrong password, an unknown account and a locked one.
        error = _("用户名或密码错误，或账号已被暂时锁定。")
    return render(request, "core/login.html", {"form": form, "error": error,
                                               "next": request.POST.get("next") or request.GET.get("next", "")})


def _finish_second_factor(request: HttpRequest, user: User, device: TOTPDevice) -> HttpResponse:
    django_otp.login(request, device)
    request.session.cycle_key()
    services.login_succeeded(user=user, second_factor=True)
    return redirect(_safe_next(request, request.session.pop(NEXT_SESSION_KEY, None)))


def _second_factor_gate(request: HttpRequest) -> HttpResponse | None:
    """Where a request to the second-factor pages belongs instead, if elsewhere."""
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if not _second_factor_pending(request):
        return redirect(settings.LOGIN_REDIRECT_URL)
    return None


@login_not_required
@sensitive_post_parameters("token")
@never_cache
@require_http_methods(["GET", "POST"])
def login_otp(request: HttpRequest) -> HttpResponse:
    if (elsewhere := _second_factor_gate(request)) is not None:
        return elsewhere
    user = request.user
    assert isinstance(user, User)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    if device is None:
        return redirect("core:login_otp_setup")
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if django_otp.verify_token(user, device.persistent_id, form.cleaned_data["token"]) is not None:
            return _finish_second_factor(request, user, device)
        services.login_failed(user=user, username=user.get_username(), reason="wrong second-factor code")
        user.refresh_from_db(fields=["failed_logins", "locked_until"])
        if user.is_locked():
            auth_logout(request)
            messages.error(request, _("用户名或密码错误，或账号已被暂时锁定。"))
            return redirect(settings.LOGIN_URL)
        form.add_error("token", _("验证码错误或已过期，请重新输入。"))
    return render(request, "core/login_otp.html", {"form": form, "second_factor_pending": True})


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg: str = image.to_string(encoding="unicode")
    # Title the image for screen readers; the secret is also printed as text beside it.
    title = escape(_("动态验证码绑定二维码"))
    return svg.replace("<svg ", '<svg role="img" aria-labelledby="qr-title" ', 1).replace(
        ">", f'><title id="qr-title">{title}</title>', 1)


@login_not_required
@sensitive_post_parameters("token")
@never_cache
@require_http_methods(["GET", "POST"])
def login_otp_setup(request: HttpRequest) -> HttpResponse:
    if (elsewhere := _second_factor_gate(request)) is not None:
        return elsewhere
    user = request.user
    assert isinstance(user, User)
    if django_otp.user_has_device(user, confirmed=True):
        return redirect("core:login_otp")
    device = services.totp_enrol_start(user=user)
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if services.totp_enrol_confirm(user=user, device=device, token=form.cleaned_data["token"]):
            return _finish_second_factor(request, user, device)
        form.add_error("token", _("验证码错误或已过期，请重新输入。"))
    secret = base64.b32encode(device.bin_key).decode("ascii")
    return render(request, "core/login_otp_setup.html", {
        "form": form, "qr_svg": _qr_svg(device.config_url), "second_factor_pending": True,
        "secret_groups": [secret[i:i + 4] for i in range(0, len(secret), 4)],
    })


@login_not_required
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        services.logout_recorded(user=request.user)
    auth_logout(request)
    return redirect(settings.LOGIN_URL)


# --- my tasks -------------------------------------------------------------------

def _with_overdue(items: list[WorkItem]) -> list[WorkItem]:
    """Flag open items past their due time, for the highlight."""
    now = timezone.now()
    for item in items:
        item.is_overdue = bool(item.due_at and item.due_at < now  # type: ignore[attr-defined]
                               and item.status in selectors.OPEN_STATUSES)
    return items


@portal_view(Action.PORTAL_USE)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    page = Paginator(selectors.inbox(user), INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "core/home.html", {
        **_shell(request), "page": page, "items": _with_overdue(list(page.object_list)),
        "purpose": selectors.current_purpose(user),
    })


@portal_view(Action.PORTAL_USE)
@require_POST
def workitem_status(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    item = get_object_or_404(WorkItem.objects.select_related("assignee_unit", "assignee_user"), pk=pk)
    form = WorkItemStatusForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("无效的状态。"))
    error = ""
    try:
        item = services.workitem_set_status(actor=user, item=item, status=form.cleaned_data["status"])
    except services.ServiceError:
        error = _("该待办当前状态下不能进行此操作。")
    if request.headers.get("HX-Request") == "true":  # htmx swaps the row (it swaps 2xx answers only)
        return render(request, "core/_workitem.html", {"item": _with_overdue([item])[0], "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("已更新：%(title)s") % {"title": item.title})
    return redirect("core:home")


# --- stated purpose of access -----------------------------------------------------

@portal_view(Action.PORTAL_USE)
@require_http_methods(["GET", "POST"])
def purpose(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = PurposeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.purpose_set(actor=user, text=data["text"], ref_type=data["ref_type"],
                                     ref_id=data["ref_id"], hours=data["hours"])
            except services.ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, _("查询事由已设置。"))
                if request.POST.get("next"):
                    return redirect(_safe_next(request, request.POST["next"]))
                return redirect("core:purpose")
        status = 400
    return render(request, "core/purpose.html", {
        **_shell(request), "form": form, "purpose": selectors.current_purpose(user),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }, status=status)


@portal_view(Action.PORTAL_USE)
@require_POST
def purpose_clear(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    services.purpose_clear(actor=user)
    messages.success(request, _("查询事由已清除。"))
    return redirect("core:purpose")


# --- audit log ----------------------------------------------------------------------

@portal_view(Action.AUDIT_READ)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = selectors.audit_log(user, actor_username=filters.get("actor", ""), action=filters.get("action", ""),
                                  outcome=filters.get("outcome", ""), request=request)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "core/audit.html", {
        **_shell(request), "form": form, "page": page, "entries": page.object_list,
        "query": query.urlencode(),
    })
