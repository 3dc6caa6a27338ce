"""Pages of the anti-fraud centre for what the early-warning engine judges by: the watch lists
(filter, add one, upload a CSV batch, retire) and the rule-set versions (read any, draft a new
one from the active set, edit its rows, publish it or fall back to an earlier one). Thin:
parse, call watchlists.py, render."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jingwu.antifraud import rules, watchlists
from jingwu.antifraud.banks import BANKS
from jingwu.antifraud.warning_models import ListKind, RuleSet, WatchListEntry
from jingwu.core.access import Action
from jingwu.core.services import ServiceError
from jingwu.core.views import _shell, form_action, portal_user, portal_view

PAGE_SIZE = 50
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
STATE_LABELS = {"live": gettext_lazy("有效"), "expired": gettext_lazy("已过期"), "retired": gettext_lazy("已撤销"),
                "all": gettext_lazy("全部")}


class FilterForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("类型"), required=False, choices=[("", "—"), *ListKind.choices])
    state = forms.ChoiceField(label=gettext_lazy("状态"), required=False, choices=list(STATE_LABELS.items()))
    q = forms.CharField(label=gettext_lazy("号码/账户/网址/应用"), required=False, max_length=100)
    source = forms.CharField(label=gettext_lazy("来源"), required=False, max_length=100)


class EntryForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("类型"), choices=ListKind.choices)
    value = forms.CharField(label=gettext_lazy("号码/账户/网址/应用"), max_length=500)
    bank = forms.ChoiceField(label=gettext_lazy("银行（账户）"), required=False,
                             choices=[("", "—")] + [(code, code) for code in BANKS])
    source = forms.CharField(label=gettext_lazy("来源"), max_length=100)
    expires_at = forms.DateTimeField(label=gettext_lazy("失效时间"), required=False,
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    note = forms.CharField(label=gettext_lazy("备注"), required=False, max_length=300)


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV 文件"), required=False)
    text = forms.CharField(label=gettext_lazy("或粘贴 CSV 内容"), required=False,
                           widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}))


class RetireForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("撤销理由"), max_length=300)


class LevelsForm(forms.Form):
    high = forms.IntegerField(label=gettext_lazy("高风险阈值"))
    medium = forms.IntegerField(label=gettext_lazy("中风险阈值"))
    low = forms.IntegerField(label=gettext_lazy("低风险阈值"))


class RuleForm(forms.Form):
    """One rule row; only the parameters of its kind are kept (rules.PARAMS)."""

    id = forms.CharField(label=gettext_lazy("规则编号"), max_length=40)
    kind = forms.ChoiceField(label=gettext_lazy("规则类型"), choices=[(k, k) for k in sorted(rules.KINDS)])
    weight = forms.IntegerField(label=gettext_lazy("分值"))
    context = forms.BooleanField(label=gettext_lazy("仅在其他规则命中时计分"), required=False)
    list = forms.ChoiceField(label="list", required=False, choices=[("", "—"), *ListKind.choices])
    per = forms.ChoiceField(label="per", required=False, choices=[
        ("", "—"), ("citizen", gettext_lazy("每个群众")), ("account", gettext_lazy("每个账户"))])
    window_seconds = forms.IntegerField(label="window_seconds", required=False)
    count = forms.IntegerField(label="count", required=False)
    min_seconds = forms.IntegerField(label="min_seconds", required=False)
    from_hour = forms.IntegerField(label="from_hour", required=False)
    to_hour = forms.IntegerField(label="to_hour", required=False)
    min_age = forms.IntegerField(label="min_age", required=False)
    max_age = forms.IntegerField(label="max_age", required=False)

    def rule(self) -> dict[str, Any]:
        data = self.cleaned_data
        rule: dict[str, Any] = {"id": data["id"].strip(), "kind": data["kind"], "weight": data["weight"]}
        for name in rules.PARAMS.get(data["kind"], {}):
            if data.get(name) not in (None, ""):
                rule[name] = data[name]
        if data["context"]:
            rule["context"] = True
        return rule


def _lists_url(request: HttpRequest) -> str:
    return reverse("antifraud:lists") + (f"?{request.GET.urlencode()}" if request.GET else "")


def _lists_page(request: HttpRequest, *, upload: UploadForm | None = None,
                rejected: list[watchlists.RowError] | None = None, status: int = 200) -> HttpResponse:
    user = portal_user(request)
    filters = FilterForm(request.GET or None)
    chosen: dict[str, Any] = filters.cleaned_data if filters.is_valid() else {}
    qs = watchlists.watchlist_entries(user, kind=chosen.get("kind", ""), state=chosen.get("state") or "live",
                                      q=chosen.get("q", ""), source=chosen.get("source", ""))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = {k: v for k, v in request.GET.items() if k != "page"}
    return render(request, "antifraud/lists.html", {
        **_shell(request), "filters": filters, "page": page, "entries": page.object_list,
        "query": urlencode(query), "entry_form": EntryForm(), "upload": upload or UploadForm(),
        "rejected": rejected or [], "retire_form": RetireForm(), "sources": watchlists.watchlist_sources(user),
        "columns": ", ".join(watchlists.CSV_COLUMNS)}, status=status)


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_GET
def lists(request: HttpRequest) -> HttpResponse:
    return _lists_page(request)


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_POST
def list_add(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)

    def run(data: dict[str, Any]) -> watchlists.BatchAdded:
        entry = watchlists.EntryIn(kind=data["kind"], value=data["value"], source=data["source"],
                                   expires_at=data["expires_at"], note=data["note"], bank=data["bank"])
        try:
            return watchlists.watchlist_add_batch(actor=user, entries=[(1, entry)])
        except watchlists.BatchRejected as exc:  # one entry: its first problem is the message
            error = exc.errors[0]
            raise ServiceError(f"{EntryForm.base_fields[error.field].label}：{error.reason}",
                                          field=error.field) from None

    return form_action(request, EntryForm(request.POST), back=reverse("antifraud:lists"), run=run,
                       invalid=_("请填写类型、号码/账户/网址/应用和来源。"),
                       done=lambda r: _("已列入名单。") if r.added else _("该条目已在名单中，已更新失效时间和备注。"))


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_POST
def list_upload(request: HttpRequest) -> HttpResponse:
    """A CSV batch: every bad row is listed (line, column, reason) and nothing is listed until
    all are right; the text stays in the box to be corrected."""
    user = portal_user(request)
    form = UploadForm(request.POST, request.FILES)
    text = ""
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        if upload is not None:
            if upload.size > MAX_UPLOAD_BYTES:
                messages.error(request, _("文件过大（最多 2 MB）。"))
                return _lists_page(request, status=400)
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                messages.error(request, _("文件须为 UTF-8 编码的 CSV。"))
                return _lists_page(request, status=400)
        else:
            text = form.cleaned_data.get("text", "")
    if not text.strip():
        messages.error(request, _("请选择 CSV 文件或粘贴 CSV 内容。"))
        return _lists_page(request, status=400)
    kept = UploadForm(initial={"text": text})
    try:
        entries, parse_errors = watchlists.watchlist_csv_parse(text)
        added = watchlists.watchlist_add_batch(actor=user, entries=entries, where="CSV", parse_errors=parse_errors)
    except watchlists.BatchRejected as exc:
        messages.error(request, _("CSV 有 %(n)s 处错误，整批未导入；请改正后重新提交。") % {"n": len(exc.errors)})
        return _lists_page(request, upload=kept, rejected=exc.errors, status=400)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return _lists_page(request, upload=kept, status=400)
    messages.success(request, _("已导入 %(added)s 条，更新 %(renewed)s 条。") % {"added": added.added,
                                                                        "renewed": added.renewed})
    return redirect("antifraud:lists")


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_POST
def list_retire(request: HttpRequest, pk: int) -> HttpResponse:
    user = portal_user(request)
    try:
        entry = watchlists.watchlist_entry(user, pk)
    except WatchListEntry.DoesNotExist:
        raise Http404(_("没有这个名单条目。")) from None
    back = request.POST.get("back") or reverse("antifraud:lists")
    if not back.startswith(reverse("antifraud:lists")):
        back = reverse("antifraud:lists")
    return form_action(request, RetireForm(request.POST), back=back, invalid=_("请填写撤销理由。"),
                       run=lambda data: watchlists.watchlist_retire(actor=user, entry=entry, reason=data["reason"]),
                       done=_("已撤销：%(value)s") % {"value": entry.value})


# --- rule sets ---------------------------------------------------------------------------------

@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_GET
def rulesets(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    return render(request, "antifraud/rulesets.html", {
        **_shell(request), "rulesets": watchlists.rulesets(user), "active": watchlists.ruleset_active_version(),
        "defaults": rules.DEFAULT_RULES})


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_POST
def ruleset_new(request: HttpRequest) -> HttpResponse:
    user = portal_user(request)
    try:
        draft = watchlists.ruleset_draft(actor=user, note=request.POST.get("note", ""))
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("antifraud:rulesets")
    messages.success(request, _("已从当前生效版本复制出草稿 v%(v)s。") % {"v": draft.version})
    return redirect("antifraud:ruleset", version=draft.version)


def _ruleset_or_404(request: HttpRequest, version: int) -> RuleSet:
    try:
        return watchlists.ruleset_get(portal_user(request), version)
    except RuleSet.DoesNotExist:
        raise Http404(_("没有这个规则版本。")) from None


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_GET
def ruleset(request: HttpRequest, version: int) -> HttpResponse:
    row = _ruleset_or_404(request, version)
    draft = row.published_at is None
    rows = [(i, rule, RuleForm(initial={**rule, "context": bool(rule.get("context"))}, prefix=f"r{i}"))
            for i, rule in enumerate(row.rules.get("rules", []))]
    return render(request, "antifraud/ruleset.html", {
        **_shell(request), "ruleset": row, "draft": draft, "rows": rows, "new_rule": RuleForm(prefix="new"),
        "levels": LevelsForm(initial=row.rules.get("levels", {})), "params": rules.PARAMS,
        "as_json": json.dumps(row.rules, ensure_ascii=False, indent=1),
        "active": watchlists.ruleset_active_version()})


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_POST
def ruleset_rule(request: HttpRequest, version: int, index: str) -> HttpResponse:
    """Save one row of a draft (index "new": add a row)."""
    user = portal_user(request)
    row = _ruleset_or_404(request, version)
    at = None if index == "new" else int(index) if index.isdigit() else -1
    form = RuleForm(request.POST, prefix="new" if at is None else f"r{index}")
    back = reverse("antifraud:ruleset", args=[version])
    if request.POST.get("delete") and at is not None:
        return form_action(request, forms.Form(request.POST), back=back,
                           run=lambda _d: watchlists.ruleset_rule_delete(actor=user, draft=row, index=at),
                           done=_("已删除第 %(n)s 条规则。") % {"n": at + 1})
    return form_action(request, form, back=back, invalid=_("规则编号、类型和分值须填写，参数须为整数。"),
                       run=lambda _d: watchlists.ruleset_rule_save(actor=user, draft=row, index=at, rule=form.rule()),
                       done=_("规则已保存（草稿 v%(v)s）。") % {"v": version})


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_POST
def ruleset_levels(request: HttpRequest, version: int) -> HttpResponse:
    user = portal_user(request)
    row = _ruleset_or_404(request, version)
    return form_action(request, LevelsForm(request.POST), back=reverse("antifraud:ruleset", args=[version]),
                       run=lambda d: watchlists.ruleset_levels_save(actor=user, draft=row, high=d["high"],
                                                                    medium=d["medium"], low=d["low"]),
                       invalid=_("阈值须为整数。"), done=_("阈值已保存。"))


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_http_methods(["POST"])
def ruleset_activate(request: HttpRequest, version: int) -> HttpResponse:
    user = portal_user(request)
    row = _ruleset_or_404(request, version)
    return form_action(request, forms.Form(request.POST), back=reverse("antifraud:ruleset", args=[version]),
                       run=lambda _d: watchlists.ruleset_activate(actor=user, ruleset=row),
                       done=_("v%(v)s 已生效，预警引擎从下一批信号起按此版本评估。") % {"v": version})


@portal_view(Action.FRAUD_LISTS_MANAGE)
@require_POST
def ruleset_discard(request: HttpRequest, version: int) -> HttpResponse:
    user = portal_user(request)
    row = _ruleset_or_404(request, version)
    return form_action(request, forms.Form(request.POST), back=reverse("antifraud:rulesets"),
                       run=lambda _d: watchlists.ruleset_discard(actor=user, draft=row),
                       done=_("草稿 v%(v)s 已放弃。") % {"v": version})
