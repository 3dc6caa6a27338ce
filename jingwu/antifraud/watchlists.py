"""Managing what the early-warning engine judges by: watch lists (add, retire, a CSV or API
batch) and rule-set versions (a draft copied from the active set, its rows edited, then
published; an earlier version made active again to fall back).

Every write needs FRAUD_LISTS_MANAGE (the anti-fraud centre), runs in one transaction and
writes one audit entry. The engine needs no restart: a list change replaces the list-version
token (early_warning.watchlist_changed), so each process reloads its list copy on its next
batch; the active rule set is cached with the lists, so activating a version replaces the
token too."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from jingwu.antifraud import early_warning, indicators, rules
from jingwu.antifraud.warning_models import ListKind, RuleSet, WatchListEntry
from jingwu.core import access, audit
from jingwu.core.access import Action
from jingwu.core.models import User
from jingwu.core.services import ServiceError

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
MAX_BATCH: Final = 5000
CSV_COLUMNS: Final = ("kind", "value", "source", "expires_at", "note", "bank")
# The list kinds as a CSV may name them: the code or the label.
KIND_WORDS: Final = {**{k: k for k in ListKind.values}, "电话号码": "phone", "电话": "phone", "银行账户": "account",
                     "账户": "account", "网址": "url", "应用": "app"}


def _check(actor: User, object_type: str, object_id: str | int = "") -> None:
    access.check(actor, Action.FRAUD_LISTS_MANAGE, None, object_type=object_type, object_id=object_id)


# --- watch lists: reads ----------------------------------------------------------------------

LIST_STATES: Final = ("live", "expired", "retired", "all")


def watchlist_entries(actor: User, *, kind: str = "", state: str = "live", q: str = "", source: str = "",
                      now: dt.datetime | None = None) -> QuerySet[WatchListEntry]:
    """Entries filtered by kind, state (live, expired, retired or all), value and source.
    The lists are the province's: whoever manages them sees them whole."""
    _check(actor, "watchlist")
    now = now or timezone.now()
    qs = WatchListEntry.objects.select_related("added_by", "retired_by")
    if kind:
        qs = qs.filter(kind=kind)
    if state == "live":
        qs = qs.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), retired_at__isnull=True)
    elif state == "expired":
        qs = qs.filter(expires_at__lte=now, retired_at__isnull=True)
    elif state == "retired":
        qs = qs.filter(retired_at__isnull=False)
    if q:
        qs = qs.filter(value__icontains=q.strip())
    if source:
        qs = qs.filter(source=source.strip())
    return qs.order_by("-added_at", "-id")


def watchlist_sources(actor: User) -> list[str]:
    _check(actor, "watchlist")
    return list(WatchListEntry.objects.order_by("source").values_list("source", flat=True).distinct())


def watchlist_entry(actor: User, pk: int) -> WatchListEntry:
    """Raises WatchListEntry.DoesNotExist."""
    _check(actor, "watchlist", pk)
    return WatchListEntry.objects.get(pk=pk)


# --- watch lists: writes ---------------------------------------------------------------------

@dataclass(frozen=True)
class EntryIn:
    kind: str
    value: str
    source: str
    expires_at: dt.datetime | None = None
    note: str = ""
    bank: str = ""


@dataclass(frozen=True)
class RowError:
    row: int  # a CSV's line number (the header is line 1); an API batch's index, as in entries[i]
    field: str
    reason: str


class BatchRejected(ServiceError):
    """A batch with bad rows: every one is named and nothing of the batch is written."""

    def __init__(self, errors: list[RowError], *, where: str = "entries") -> None:
        first = errors[0]
        super().__init__(_("%(n)s 处错误，整批未导入（第一处：%(where)s %(row)s 的 %(field)s：%(reason)s）") % {
            "n": len(errors), "where": where, "row": first.row, "field": first.field, "reason": first.reason},
            field=first.field)
        self.errors = errors


@dataclass(frozen=True)
class BatchAdded:
    added: int
    renewed: int  # the same kind, value and source listed before: its expiry and note replaced
    ids: list[int]


def _entry_errors(row: int, item: EntryIn, now: dt.datetime) -> tuple[list[RowError], str]:
    """The problems of one entry, and its normalised value."""
    errors: list[RowError] = []
    value = ""
    if item.kind not in ListKind.values:
        errors.append(RowError(row, "kind", _("名单类型须为 %(v)s 之一") % {"v": ", ".join(ListKind.values)}))
    elif not item.value.strip():
        errors.append(RowError(row, "value", _("不能为空")))
    else:
        try:
            found = (indicators.account(item.value, item.bank) if item.kind == "account"
                     else getattr(indicators, item.kind)(item.value))
            value = found.value
        except indicators.IndicatorError as exc:
            errors.append(RowError(row, "value", str(exc)))
    if not item.source.strip():
        errors.append(RowError(row, "source", _("须注明名单来源")))
    elif len(item.source.strip()) > 100:
        errors.append(RowError(row, "source", _("最多 100 个字符")))
    if item.expires_at is not None:
        if timezone.is_naive(item.expires_at):
            errors.append(RowError(row, "expires_at", _("须为带时区的时间")))
        elif item.expires_at <= now:
            errors.append(RowError(row, "expires_at", _("失效时间已过")))
    if len(item.note) > 300:
        errors.append(RowError(row, "note", _("最多 300 个字符")))
    return errors, value


def watchlist_add_batch(*, actor: User, entries: Sequence[tuple[int, EntryIn]], where: str = "entries",
                        parse_errors: Sequence[RowError] = (), now: dt.datetime | None = None) -> BatchAdded:
    """List a batch of entries, each (row, entry). Every row is checked first; any problem
    (parse_errors included) raises BatchRejected naming each row, field and reason, and
    nothing is written. A kind, value and source listed before is renewed, not doubled."""
    _check(actor, "watchlist")
    now = now or timezone.now()
    errors = list(parse_errors)
    if not entries and not errors:
        raise ServiceError(_("批次中没有条目"), field=where)
    if len(entries) > MAX_BATCH:
        raise ServiceError(_("一个批次最多 %(n)s 条") % {"n": MAX_BATCH}, field=where)
    checked: dict[tuple[str, str, str], EntryIn] = {}
    first_row: dict[tuple[str, str, str], int] = {}
    for row, item in entries:
        problems, value = _entry_errors(row, item, now)
        errors += problems
        if problems:
            continue
        key = (item.kind, value, item.source.strip())
        if key in checked:
            errors.append(RowError(row, "value", _("与第 %(row)s 行重复") % {"row": first_row[key]}))
            continue
        checked[key] = item
        first_row[key] = row
    if errors:
        raise BatchRejected(sorted(errors, key=lambda e: (e.row, CSV_COLUMNS.index(e.field)
                                                          if e.field in CSV_COLUMNS else 99)), where=where)
    with transaction.atomic():
        existing: dict[tuple[str, str, str], WatchListEntry] = {}
        for kind in {k for k, _v, _s in checked}:
            values = [v for k, v, _s in checked if k == kind]
            for entry in WatchListEntry.objects.select_for_update().filter(kind=kind, value__in=values):
                existing[(entry.kind, entry.value, entry.source)] = entry
        new: list[WatchListEntry] = []
        renewed: list[WatchListEntry] = []
        for key, item in checked.items():
            found = existing.get(key)
            if found is None:
                new.append(WatchListEntry(kind=key[0], value=key[1], source=key[2], expires_at=item.expires_at,
                                          note=item.note, added_at=now, added_by=actor))
            else:
                entry = found
                entry.expires_at, entry.note, entry.added_by = item.expires_at, item.note, actor
                entry.retired_at, entry.retired_by = None, None
                renewed.append(entry)
        WatchListEntry.objects.bulk_create(new)
        WatchListEntry.objects.bulk_update(renewed, ["expires_at", "note", "added_by", "retired_at", "retired_by"])
        early_warning.watchlist_changed()
        ids = sorted(e.pk for e in new + renewed)
        kinds: dict[str, int] = {}
        for kind, _v, _s in checked:
            kinds[kind] = kinds.get(kind, 0) + 1
        audit.record(actor=actor, action="antifraud.watchlist_batch", object_type="watchlist",
                     details={"added": len(new), "renewed": len(renewed), "kinds": kinds,
                              "sources": sorted({s for _k, _v, s in checked}), "ids": ids[:1000]})
    return BatchAdded(len(new), len(renewed), ids)


def watchlist_retire(*, actor: User, entry: WatchListEntry, reason: str,
                     now: dt.datetime | None = None) -> WatchListEntry:
    """Withdraw an entry at once (listed in error, the number reassigned …): it stops counting
    for signals from now on; earlier signals keep what it scored."""
    _check(actor, "watchlist", entry.pk)
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise ServiceError(_("须说明撤销理由"), field="reason")
    if len(reason) > 300:
        raise ServiceError(_("撤销理由最多 300 个字符"), field="reason")
    with transaction.atomic():
        locked = WatchListEntry.objects.select_for_update().get(pk=entry.pk)
        if locked.retired_at is not None:
            raise ServiceError(_("该名单条目已撤销"), field="entry")
        before = locked.expires_at
        locked.retired_at, locked.retired_by, locked.retire_reason = now, actor, reason
        if locked.expires_at is None or locked.expires_at > now:
            locked.expires_at = now  # what the engine reads
        locked.save(update_fields=["retired_at", "retired_by", "retire_reason", "expires_at"])
        early_warning.watchlist_changed()
        audit.record(actor=actor, action="antifraud.watchlist_retire", object_type="watchlist",
                     object_id=str(locked.pk), details={"kind": locked.kind, "source": locked.source,
                                                        "reason": reason,
                                                        "expires_before": before.isoformat() if before else ""})
    return locked


def _expiry(text: str) -> dt.datetime | None:
    """A CSV's expiry: empty (never), a date (through that day, Asia/Shanghai), or a time
    (Asia/Shanghai unless it names its zone). Raises ValueError."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)


def watchlist_csv_parse(text: str) -> tuple[list[tuple[int, EntryIn]], list[RowError]]:
    """Rows of a CSV (header: kind,value,source[,expires_at,note,bank]) as entries with their
    line numbers, and the problems that stop a row from being read at all."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in ("kind", "value", "source") if c not in header]
    if missing:
        raise ServiceError(_("CSV 第 1 行须为表头，至少含 kind、value、source 三列（缺 %(c)s）") % {
            "c": ", ".join(missing)}, field="file")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise ServiceError(_("CSV 表头有未知的列：%(c)s") % {"c": ", ".join(unknown)}, field="file")
    entries: list[tuple[int, EntryIn]] = []
    errors: list[RowError] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            errors.append(RowError(line, "value", _("列数多于表头（%(n)s 列）") % {"n": len(header)}))
            continue
        row = dict(zip(header, [c.strip() for c in cells], strict=False))
        kind = KIND_WORDS.get(row.get("kind", "").lower(), row.get("kind", ""))
        try:
            expires = _expiry(row.get("expires_at", ""))
        except ValueError:
            errors.append(RowError(line, "expires_at", _("不是日期或时间（如 2027-06-30 或 2027-06-30T18:00+08:00）")))
            continue
        entries.append((line, EntryIn(kind=kind, value=row.get("value", ""), source=row.get("source", ""),
                                      expires_at=expires, note=row.get("note", ""), bank=row.get("bank", "").upper())))
    return entries, errors


# --- rule sets -------------------------------------------------------------------------------

def rulesets(actor: User) -> list[RuleSet]:
    """Every version, newest first (drafts included)."""
    _check(actor, "ruleset")
    return list(RuleSet.objects.select_related("created_by", "published_by").order_by("-version"))


def ruleset_get(actor: User, version: int) -> RuleSet:
    """Raises RuleSet.DoesNotExist."""
    _check(actor, "ruleset", version)
    return RuleSet.objects.select_related("created_by", "published_by").get(version=version)


def ruleset_active_version() -> int:
    """The version deciding now (the built-in defaults when none is active)."""
    return early_warning.active_ruleset()[0]


def _next_version() -> int:
    last = RuleSet.objects.select_for_update().order_by("-version").first()
    return max(last.version if last else 0, int(rules.DEFAULT_RULES["version"])) + 1


def ruleset_draft(*, actor: User, note: str = "", now: dt.datetime | None = None) -> RuleSet:
    """A draft copied from the active set; one draft at a time."""
    _check(actor, "ruleset")
    now = now or timezone.now()
    with transaction.atomic():
        draft = RuleSet.objects.select_for_update().filter(published_at__isnull=True).first()
        if draft is not None:
            raise ServiceError(_("已有草稿 v%(v)s：请先发布或放弃它") % {"v": draft.version}, field="draft")
        base_version, base = early_warning.active_ruleset()
        version = _next_version()
        row = RuleSet.objects.create(version=version, rules={**base, "version": version}, note=note.strip()[:300],
                                     active=False, created_at=now, created_by=actor)
        audit.record(actor=actor, action="antifraud.ruleset_draft", object_type="ruleset", object_id=str(version),
                     details={"from": base_version})
    return row


def _locked_draft(draft: RuleSet) -> RuleSet:
    locked = RuleSet.objects.select_for_update().get(pk=draft.pk)
    if locked.published_at is not None:
        raise ServiceError(_("v%(v)s 已发布，不能修改：请新建草稿") % {"v": locked.version}, field="version")
    return locked


def _validated(ruleset: dict[str, Any]) -> None:
    try:
        rules.validate(ruleset)
    except rules.RuleSetError as exc:
        field, _sep, _reason = str(exc).partition(": ")
        raise ServiceError(str(exc), field=field) from None


def _save_draft(actor: User, draft: RuleSet, ruleset: dict[str, Any], action: str, details: dict[str, Any]) -> RuleSet:
    _validated(ruleset)
    draft.rules = ruleset
    draft.save(update_fields=["rules"])
    audit.record(actor=actor, action=action, object_type="ruleset", object_id=str(draft.version), details=details)
    return draft


def ruleset_rule_save(*, actor: User, draft: RuleSet, index: int | None, rule: dict[str, Any]) -> RuleSet:
    """Replace the draft's rule at `index` (None: add one at the end); the whole set is checked
    and a problem names the rule and field (rules[2].window_seconds)."""
    _check(actor, "ruleset", draft.version)
    with transaction.atomic():
        locked = _locked_draft(draft)
        rows = list(locked.rules.get("rules", []))
        before = None
        if index is None:
            rows.append(rule)
            index = len(rows) - 1
        elif not 0 <= index < len(rows):
            raise ServiceError(_("没有第 %(n)s 条规则") % {"n": index + 1}, field="index")
        else:
            before, rows[index] = rows[index], rule
        return _save_draft(actor, locked, {**locked.rules, "rules": rows}, "antifraud.ruleset_rule_save",
                           {"index": index, "rule": rule, "before": before})


def ruleset_rule_delete(*, actor: User, draft: RuleSet, index: int) -> RuleSet:
    _check(actor, "ruleset", draft.version)
    with transaction.atomic():
        locked = _locked_draft(draft)
        rows = list(locked.rules.get("rules", []))
        if not 0 <= index < len(rows):
            raise ServiceError(_("没有第 %(n)s 条规则") % {"n": index + 1}, field="index")
        removed = rows.pop(index)
        return _save_draft(actor, locked, {**locked.rules, "rules": rows}, "antifraud.ruleset_rule_delete",
                           {"index": index, "rule": removed})


def ruleset_levels_save(*, actor: User, draft: RuleSet, high: int, medium: int, low: int) -> RuleSet:
    _check(actor, "ruleset", draft.version)
    with transaction.atomic():
        locked = _locked_draft(draft)
        levels = {"high": high, "medium": medium, "low": low}
        return _save_draft(actor, locked, {**locked.rules, "levels": levels}, "antifraud.ruleset_levels_save",
                           {"levels": levels, "before": locked.rules.get("levels")})


def ruleset_discard(*, actor: User, draft: RuleSet) -> None:
    _check(actor, "ruleset", draft.version)
    with transaction.atomic():
        locked = _locked_draft(draft)
        locked.delete()
        audit.record(actor=actor, action="antifraud.ruleset_discard", object_type="ruleset",
                     object_id=str(draft.version), details={})


def ruleset_activate(*, actor: User, ruleset: RuleSet, now: dt.datetime | None = None) -> RuleSet:
    """Make a version the one that decides: a draft is checked and published; an earlier
    published version comes back (falling back). The engine takes it from its next batch."""
    _check(actor, "ruleset", ruleset.version)
    now = now or timezone.now()
    with transaction.atomic():
        locked = RuleSet.objects.select_for_update().get(pk=ruleset.pk)
        if locked.active:
            raise ServiceError(_("v%(v)s 已是当前生效版本") % {"v": locked.version}, field="version")
        before = RuleSet.objects.filter(active=True).values_list("version", flat=True).first()
        publishing = locked.published_at is None
        if publishing:
            _validated(locked.rules)
            locked.published_at, locked.published_by = now, actor
        RuleSet.objects.filter(active=True).update(active=False)
        locked.active = True
        locked.save(update_fields=["active", "published_at", "published_by"])
        early_warning.watchlist_changed()  # the engine caches the active set with the lists
        audit.record(actor=actor, action="antifraud.ruleset_activate", object_type="ruleset",
                     object_id=str(locked.version),
                     details={"published": publishing, "before": before, "rules": [r["id"] for r in
                                                                                   locked.rules["rules"]]})
    return locked
