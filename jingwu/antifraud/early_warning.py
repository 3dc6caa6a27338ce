"""Early warning and dissuasion (预警劝阻): partners' signals in, warnings and tasks out.

`signals_check` turns a pushed batch into `SignalIn` values or raises a ServiceError naming
the first bad field ("signals[3].counterpart"), before anything is written or published.
`signals_process` is THE handler: the API calls it in-process when NATS_URL is unset and
the stream workers (streams.py) call it for what they consume; both commit a batch whole.

Per signal: live list hits, velocity windows (per citizen, per account), call duration,
time of day and age group are scored by the newest active rule set (rules.py). A citizen
has one open warning at a time; later signals add their reasons to it and may raise its
level. Raising the level hands out the level's task: high → a dissuasion task (劝阻) in
the citizen's station inbox, due soon; medium → a 96110 call task; low → an SMS in the
outbox (sms.py sends it). The officer's outcome closes the warning and feeds the rule
statistics.

A batch is evaluated in memory, signal by signal in order, against the process's copy of
the watch lists and the batch's velocity windows (read with one query each); it is then
written with a few statements whatever its size: the rare warnings and their tasks, every
signal in one multi-row insert, one audit entry."""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from jingwu.antifraud import indicators, rules
from jingwu.antifraud.warning_models import (
    LEVEL_RANK,
    FraudWarning,
    ListKind,
    ListVersion,
    RiskLevel,
    RuleSet,
    Signal,
    SignalKind,
    SignalPartner,
    SmsOutbox,
    WarningOutcome,
    WarningState,
    WatchListEntry,
)
from jingwu.core import access, audit, identifiers
from jingwu.core import services as core_services
from jingwu.core.access import Action
from jingwu.core.models import Unit, User, WorkItemPriority, WorkItemStatus
from jingwu.core.services import ServiceError

MAX_BATCH: Final = 1000
# How long the station has to act, by level (a high warning means the money may leave now).
TASK_DEADLINES: Final = {RiskLevel.HIGH: timedelta(minutes=30), RiskLevel.MEDIUM: timedelta(hours=2)}
TASK_KINDS: Final = {RiskLevel.HIGH: "antifraud.dissuade", RiskLevel.MEDIUM: "antifraud.call_96110"}
COUNTERPART_OF: Final = {"call": ("phone",), "sms": ("phone",), "transfer": ("account",),
                         "app_install": ("app",), "url_visit": ("url",)}


@dataclass(frozen=True, slots=True)
class SignalIn:
    message_id: str
    partner: str
    kind: str
    citizen_key: str
    citizen_name: str
    citizen_phone: str
    citizen_id_number: str
    birth_date: date | None
    unit_id: int
    counterpart_kind: str
    counterpart: str
    account: str
    occurred_at: datetime
    duration_seconds: int | None = None
    amount_fen: int | None = None
    device: str = ""
    ip: str | None = None

    def as_message(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["occurred_at"] = self.occurred_at.isoformat()
        data["birth_date"] = self.birth_date.isoformat() if self.birth_date else None
        return data

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> SignalIn:
        data = dict(data)
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
        data["birth_date"] = date.fromisoformat(data["birth_date"]) if data["birth_date"] else None
        return cls(**data)


def _fail(field: str, message: str) -> ServiceError:
    return ServiceError(f"{field}: {message}", field=field)


# --- checking a batch -------------------------------------------------------------------

def signals_check(*, actor: User, partner: str, items: Sequence[dict[str, Any]],
                  now: datetime | None = None) -> list[SignalIn]:
    """Check a partner's batch whole; the first problem raises, naming the field."""
    now = now or timezone.now()
    if not access.can(actor, Action.WARNING_SIGNAL_PUSH):
        access.deny(actor, Action.WARNING_SIGNAL_PUSH, None, object_type="fraud_signal")
    if not partner or len(partner) > 40 or ":" in partner:
        raise _fail("partner", _("合作方代码须为 1 到 40 个字符，且不含冒号"))
    if not SignalPartner.objects.filter(code=partner, user=actor).exists():
        # Unknown and another's code are the same refusal: a partner learns nothing of the others.
        access.deny(actor, Action.WARNING_SIGNAL_PUSH, None, object_type="signal_partner", object_id=partner)
    if not items:
        raise _fail("signals", _("批次中没有信号"))
    if len(items) > MAX_BATCH:
        raise _fail("signals", _("一个批次最多 %(n)s 条信号") % {"n": MAX_BATCH})
    home = actor.home_unit.pk if actor.home_unit is not None else None
    units = {u.code: u.pk for u in Unit.objects.filter(code__in={str(i.get("station") or "") for i in items})}
    seen: set[str] = set()
    out: list[SignalIn] = []
    for n, item in enumerate(items):
        where = f"signals[{n}]"
        signal = _check_one(item, where, partner, units, home, now)
        if signal.message_id in seen:
            raise _fail(f"{where}.id", _("批次中重复的信号编号 %(id)s") % {"id": item["id"]})
        seen.add(signal.message_id)
        out.append(signal)
    return _resolve_citizens(out)


def _resolve_citizens(batch: list[SignalIn]) -> list[SignalIn]:
    """One citizen, one key: a signal that names only a phone is keyed by the ID number
    behind it when that is known — from a signal of the same batch that gives both, from the
    citizen's open warning, else from the data centre's records (the one person whose current
    uses_phone relation names it) — so the phone's and the ID number's signals share one open
    warning, one set of windows and one stream partition."""
    phones = {s.citizen_phone for s in batch if not s.citizen_id_number}
    if not phones:
        return batch
    known: dict[str, set[str]] = {}
    for s in batch:
        if s.citizen_id_number and s.citizen_phone in phones:
            known.setdefault(s.citizen_phone, set()).add(s.citizen_id_number)
    rest = phones - set(known)
    if rest:
        for phone, id_number in (FraudWarning.objects.filter(state=WarningState.OPEN, citizen_phone__in=rest)
                                 .exclude(citizen_id_number="").values_list("citizen_phone", "citizen_id_number")):
            known.setdefault(phone, set()).add(id_number)
        rest -= set(known)
    if rest:
        from jingwu.records.models import EntityKind, Relation, RelationKind

        today = timezone.localdate()
        for phone, id_number in (Relation.objects.filter(
                kind=RelationKind.USES_PHONE, object__kind=EntityKind.PHONE, object__key__in=rest,
                subject__kind=EntityKind.PERSON, subject__merged_into=None)
                .exclude(subject__key="").exclude(valid_to__lt=today)
                .values_list("object__key", "subject__key").distinct()):
            if identifiers.validate_resident_id(id_number).valid:
                known.setdefault(phone, set()).add(id_number)
    out = []
    for s in batch:
        ids = known.get(s.citizen_phone) if not s.citizen_id_number else None
        if ids is not None and len(ids) == 1:  # a phone shared by two people keys nobody
            (id_number,) = ids
            s = replace(s, citizen_key=f"id:{id_number}", citizen_id_number=id_number,
                        birth_date=identifiers.validate_resident_id(id_number).birth_date)
        out.append(s)
    return out


def signals_trusted(items: Sequence[dict[str, Any]], *, now: datetime) -> list[SignalIn]:
    """Items of a trusted in-process source (the seed), each naming its "partner" and its
    "station": checked as a partner's batch is, without a partner account, and keyed the
    same way (a phone alone by the ID number behind it)."""
    units = {u.code: u.pk for u in Unit.objects.filter(code__in={str(i.get("station") or "") for i in items})}
    return _resolve_citizens([_check_one(item, f"signals[{n}]", str(item["partner"]), units, None, now)
                              for n, item in enumerate(items)])


def _check_one(item: dict[str, Any], where: str, partner: str, units: dict[str, int], home: int | None,
               now: datetime) -> SignalIn:
    sid = str(item.get("id") or "")
    if not sid or len(sid) > 100:
        raise _fail(f"{where}.id", _("信号编号须为 1 到 100 个字符"))
    kind = item.get("kind")
    if kind not in SignalKind.values:
        raise _fail(f"{where}.kind", _("信号类型须为 %(kinds)s 之一") % {"kinds": ", ".join(SignalKind.values)})
    occurred = item.get("occurred_at")
    if not isinstance(occurred, datetime) or timezone.is_naive(occurred):
        raise _fail(f"{where}.occurred_at", _("须为带时区的时间"))
    if occurred > now + timedelta(minutes=5):
        raise _fail(f"{where}.occurred_at", _("时间晚于现在"))
    phone, id_number, birth = "", "", None
    if item.get("citizen_id_number"):
        rid = identifiers.validate_resident_id(str(item["citizen_id_number"]))
        if not rid.valid:
            raise _fail(f"{where}.citizen_id_number", _("不是有效的身份证号码"))
        id_number, birth = rid.normalized, rid.birth_date
    if item.get("citizen_phone"):
        mobile = identifiers.validate_phone(str(item["citizen_phone"]))
        if not mobile.valid:
            raise _fail(f"{where}.citizen_phone", _("不是有效的手机号码"))
        phone = mobile.normalized
    if not phone and not id_number:
        raise _fail(f"{where}.citizen_phone", _("须给出群众的手机号码或身份证号码"))
    station = str(item.get("station") or "")
    if station:
        if station not in units:
            raise _fail(f"{where}.station", _("没有代码为 %(code)s 的单位") % {"code": station})
        unit_id = units[station]
    elif home is not None:
        unit_id = home
    else:
        raise _fail(f"{where}.station", _("须给出群众所属派出所"))
    counterpart_kind = COUNTERPART_OF[kind][0]
    raw = str(item.get("counterpart") or "")
    try:
        if counterpart_kind == "account":
            found = indicators.account(raw, str(item.get("bank") or ""))
        else:
            found = getattr(indicators, counterpart_kind)(raw)
    except indicators.IndicatorError as exc:
        raise _fail(f"{where}.counterpart", str(exc)) from None
    duration = item.get("duration_seconds")
    if duration is not None and (not isinstance(duration, int) or not 0 <= duration <= 86400):
        raise _fail(f"{where}.duration_seconds", _("须为 0 到 86400 之间的整数"))
    amount = item.get("amount_fen")
    if amount is not None and (not isinstance(amount, int) or amount <= 0):
        raise _fail(f"{where}.amount_fen", _("须为正整数（分）"))
    ip = item.get("ip") or None
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(str(ip)))
        except ValueError:
            raise _fail(f"{where}.ip", _("不是 IP 地址")) from None
    return SignalIn(
        message_id=f"{partner}:{sid}", partner=partner, kind=kind,
        citizen_key=f"id:{id_number}" if id_number else f"phone:{phone}",
        citizen_name=str(item.get("citizen_name") or "")[:100], citizen_phone=phone, citizen_id_number=id_number,
        birth_date=birth, unit_id=unit_id, counterpart_kind=counterpart_kind, counterpart=found.value,
        account=found.value if counterpart_kind == "account" else "", occurred_at=occurred.astimezone(UTC),
        duration_seconds=duration, amount_fen=amount, device=str(item.get("device") or "")[:64], ip=ip)


# --- the handler ------------------------------------------------------------------------

@dataclass
class Processed:
    signals: int = 0
    skipped: int = 0  # already processed (a redelivery)
    warnings_opened: int = 0
    raised: int = 0  # warnings whose level went up


def active_ruleset() -> tuple[int, dict[str, Any]]:
    current = RuleSet.objects.filter(active=True).order_by("-version").first()
    if current is None:
        return rules.DEFAULT_RULES["version"], rules.DEFAULT_RULES
    return current.version, current.rules


# The watch lists and the active rule set, held per process: a batch reads one token (one
# row) and reloads both when it changed (watchlist_changed, which ruleset_publish calls too)
# or the copy is older than this, so rows written behind the services' back are seen too.
LIST_CACHE_SECONDS: Final = 30.0


@dataclass
class _EngineCache:
    token: str | None = None
    loaded: float = float("-inf")
    expiry: dict[tuple[str, str], tuple[datetime | None, ...]] = field(default_factory=dict)
    compiled: rules.Compiled | None = None


_engine = _EngineCache()
_engine_lock = threading.Lock()


def watchlist_changed() -> None:
    """Tell every process's engine cache (lists, rule set) to reload; call inside the
    transaction that changed a list or a rule set."""
    ListVersion.objects.update_or_create(pk=1, defaults={"token": uuid.uuid4().hex, "changed_at": timezone.now()})


_TOKEN_SQL: Final = "SELECT token FROM {table} WHERE id = 1"
_UNREAD: Final = object()


def _engine_state(token: Any = _UNREAD) -> _EngineCache:
    """The engine cache, reloaded when the list-version `token` changed (read here unless
    the caller read it already, in the batch's first statement)."""
    global _engine
    if token is _UNREAD:
        with connection.cursor() as cursor:  # once per batch: the raw row, not the ORM's query building
            cursor.execute(_TOKEN_SQL.format(table=connection.ops.quote_name(ListVersion._meta.db_table)))
            row = cursor.fetchone()
        token = row[0] if row else None
    with _engine_lock:
        if token is None or token != _engine.token or time.monotonic() - _engine.loaded > LIST_CACHE_SECONDS:
            expiry: dict[tuple[str, str], list[datetime | None]] = {}
            for kind, value, expires in WatchListEntry.objects.values_list("kind", "value", "expires_at"):
                expiry.setdefault((kind, value), []).append(expires)
            version, ruleset = active_ruleset()
            _engine = _EngineCache(token, time.monotonic(), {k: tuple(v) for k, v in expiry.items()},
                                   rules.Compiled({**ruleset, "version": version}))
        return _engine


def live_lists() -> dict[tuple[str, str], tuple[datetime | None, ...]]:
    """(kind, value) → the expiry of each entry (None: never); expiry is judged per signal."""
    return _engine_state().expiry


def signals_process(signals: Iterable[SignalIn], *, actor: User | None = None,
                    now: datetime | None = None) -> Processed:
    """Evaluate and store signals in one transaction; ids already processed are skipped.
    A concurrent writer of the same citizen or message id makes the batch roll back and
    run again, when the ids it committed are skipped and its open warning is found."""
    batch = list(signals)
    for attempt in range(3):
        try:
            return _process_batch(batch, actor, now or timezone.now())
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class _Windows:
    """The velocity windows of a batch's citizens and accounts (rules.Windows): loaded with
    one query each, then kept up to date in memory as the batch goes on, signal by signal.
    Only signals that scored are in the citizen windows."""

    __slots__ = ("account_seen", "citizen_times")

    def __init__(self, batch: list[SignalIn], compiled: rules.Compiled,
                 rows: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None = None) -> None:
        """`rows`: the citizen and account rows (_Windows.queries), when the caller read them
        already; else they are read here."""
        self.citizen_times: dict[str, list[datetime]] = {}
        self.account_seen: dict[str, list[tuple[datetime, str]]] = {}
        from_time = _from_db_time_adapter()
        if rows is None:
            citizen_q, account_q = _Windows.queries(batch, compiled)
            rows = ([*_select(citizen_q[0], citizen_q[1] or [], citizen_q[2])] if citizen_q else [],
                    [*_select(account_q[0], account_q[1] or [], account_q[2])] if account_q else [])
        for key, at, _none in rows[0]:
            self.citizen_times.setdefault(key, []).append(from_time(at))
        for account, at, key in rows[1]:
            self.account_seen.setdefault(account, []).append((from_time(at), key))

    @staticmethod
    def queries(batch: list[SignalIn], compiled: rules.Compiled) -> tuple[_Query | None, _Query | None]:
        """The (sql, values, before) of the citizen and of the account windows (_select's
        arguments); None when the rules have no such window or the batch no account."""
        first = min(s.occurred_at for s in batch)
        to_time = _db_time_adapter()
        table = connection.ops.quote_name(Signal._meta.db_table)
        citizen: _Query | None = None
        account: _Query | None = None
        if compiled.citizen_seconds:
            citizen = (f"SELECT citizen_key, occurred_at, NULL FROM {table} WHERE score > 0 "  # noqa: S608
                       "AND occurred_at > %s AND citizen_key",
                       list({s.citizen_key for s in batch} | {f"phone:{s.citizen_phone}" for s in batch
                                                              if s.citizen_id_number and s.citizen_phone}),
                       [to_time(first - timedelta(seconds=compiled.citizen_seconds))])
        accounts = list({s.account for s in batch if s.account})
        if compiled.account_seconds and accounts:
            # Spelled as the partial index's condition, or SQLite does not use the index.
            account = (f"SELECT account, occurred_at, citizen_key FROM {table} WHERE NOT (account = '') "  # noqa: S608
                       "AND occurred_at > %s AND account", accounts,
                       [to_time(first - timedelta(seconds=compiled.account_seconds))])
        return citizen, account

    def _times(self, signal: SignalIn) -> Iterable[datetime]:
        # A signal naming an ID number and a phone is the phone's citizen too (as the warning
        # takeover has it): its windows count what was stored under the phone alone.
        yield from self.citizen_times.get(signal.citizen_key, ())
        if signal.citizen_id_number and signal.citizen_phone:
            yield from self.citizen_times.get(f"phone:{signal.citizen_phone}", ())

    def scored_ever(self, signal: SignalIn) -> int:  # per signal: no generator
        n = len(self.citizen_times.get(signal.citizen_key, ()))
        if signal.citizen_id_number and signal.citizen_phone:
            n += len(self.citizen_times.get(f"phone:{signal.citizen_phone}", ()))
        return n

    def citizen_count(self, signal: SignalIn, seconds: int, listed: bool) -> int:
        # The citizen's earlier signals that hit something, plus this one when it does.
        at = signal.occurred_at
        since = at - timedelta(seconds=seconds)
        return sum(1 for t in self._times(signal) if since < t <= at) + listed

    def account_count(self, signal: SignalIn, seconds: int) -> int:
        at = signal.occurred_at
        since = at - timedelta(seconds=seconds)
        citizens = {k for t, k in self.account_seen.get(signal.account, ()) if since < t <= at}
        citizens.add(signal.citizen_key)
        return len(citizens)

    def add(self, signal: SignalIn, score: int) -> None:
        if score > 0:
            self.citizen_times.setdefault(signal.citizen_key, []).append(signal.occurred_at)
        if signal.account:
            self.account_seen.setdefault(signal.account, []).append((signal.occurred_at, signal.citizen_key))


@dataclass(slots=True)
class _Scored:
    signal: SignalIn
    score: int
    hits: list[dict[str, Any]]
    warning: FraudWarning | None = None


@dataclass(slots=True)
class _Decisions:
    """What a batch handed out, for its one audit entry (the work items' own included)."""

    tasks: list[str] = field(default_factory=list)  # the work items' dedupe keys
    cancelled: int = 0
    sms: int = 0
    rekeyed: list[str] = field(default_factory=list)  # warnings a phone opened, now keyed by the ID number


def _process_batch(batch: list[SignalIn], actor: User | None, now: datetime) -> Processed:
    """Evaluate the whole batch in memory, then write it with a few statements: the rare
    warnings and their tasks, every signal, one audit entry."""
    result = Processed()
    decisions = _Decisions()
    with transaction.atomic():
        table = connection.ops.quote_name(Signal._meta.db_table)
        done_q: _Query = (f"SELECT message_id, NULL, NULL FROM {table} WHERE message_id",  # noqa: S608
                          [s.message_id for s in batch], [])
        window_rows = None
        cached = _engine.compiled
        if connection.vendor == "postgresql" and cached is not None and batch:
            # One round trip for the batch's reads: the ids already processed, the list
            # version, and the windows of the whole batch (the skipped ids' extra rows are
            # outside every fresh signal's window or of a key no fresh signal has).
            token_sql = _TOKEN_SQL.format(table=connection.ops.quote_name(ListVersion._meta.db_table))
            parts = [(0, done_q), (2, (token_sql.replace("SELECT token", "SELECT token, NULL, NULL"), None, []))]
            parts += [(n, q) for n, q in enumerate(_Windows.queries(batch, cached), start=3) if q is not None]
            tagged: dict[int, list[tuple[Any, ...]]] = {n: [] for n, _q in parts}
            for n, *row in _select_union(parts):
                tagged[n].append(tuple(row))
            done = {m for m, _a, _b in tagged[0]}
            engine = _engine_state(tagged[2][0][0] if tagged[2] else None)
            if engine.compiled is cached:
                window_rows = (tagged.get(3, []), tagged.get(4, []))
        else:
            done = {m for m, _a, _b in _select(done_q[0], [s.message_id for s in batch])}
            engine = _engine_state()
        fresh = []
        for signal in batch:
            if signal.message_id in done:
                result.skipped += 1
            else:
                done.add(signal.message_id)
                fresh.append(signal)
        if not fresh:
            return result
        compiled = engine.compiled
        assert compiled is not None
        lists = engine.expiry
        windows = _Windows(fresh, compiled, window_rows)
        scored: list[_Scored] = []
        no_hits: list[dict[str, Any]] = []
        for signal in fresh:
            listed = ""
            entries = lists.get((signal.counterpart_kind, signal.counterpart))
            if entries is not None:
                for expires in entries:
                    if expires is None or expires > signal.occurred_at:
                        listed = signal.counterpart_kind
                        break
            hits = compiled.evaluate(signal, listed, windows)
            if hits:
                score = sum(h.weight for h in hits)
                windows.add(signal, score)
                scored.append(_Scored(signal, score, [{"rule": h.rule, "weight": h.weight, "detail": h.detail}
                                                      for h in hits]))
            else:
                if signal.account:
                    windows.add(signal, 0)
                scored.append(_Scored(signal, 0, no_hits))
        hit = [s for s in scored if s.hits]
        if hit:
            pending = _warn(hit, compiled, now, actor, result, decisions)
        ids = _insert_signals(scored, now, pending if hit else None)
        if hit:
            from jingwu.antifraud import linking

            linking.link_signals([Signal(pk=ids[s.signal.message_id], score=s.score,
                                         counterpart_kind=s.signal.counterpart_kind,
                                         counterpart=s.signal.counterpart, device=s.signal.device, ip=s.signal.ip)
                                  for s in hit])
        result.signals = len(scored)
        # Last, because the audit chain's head is locked until commit. One entry for the
        # batch, naming the work items it handed out and cancelled (they are not audited apart).
        details: dict[str, Any] = {"signals": result.signals, "skipped": result.skipped,
                                   "opened": result.warnings_opened, "raised": result.raised}
        if decisions.tasks or decisions.cancelled or decisions.sms or decisions.rekeyed:
            details.update(tasks=decisions.tasks, tasks_cancelled=decisions.cancelled, sms=decisions.sms)
            if decisions.rekeyed:
                details["rekeyed"] = decisions.rekeyed
        audit.record(actor=actor, action="antifraud.signals_process", object_type="fraud_signal", details=details)
    return result


def _warn(hit: list[_Scored], compiled: rules.Compiled, now: datetime, actor: User | None,
          result: Processed, decisions: _Decisions) -> tuple[str, Sequence[Any]] | None:
    """Open or add to each citizen's warning, signal by signal in order, in memory; then write
    the warnings and the tasks of every level handed out (a raise replaces the lower task).
    A warning a phone alone opened is the same citizen's when a signal names that phone with
    an ID number: it is taken over and keyed by the ID number."""
    keys = {s.signal.citizen_key for s in hit}
    by_phone = {f"phone:{s.signal.citizen_phone}" for s in hit if s.signal.citizen_id_number and s.signal.citizen_phone}
    # Raw SQL through raw(): the ORM's query building was most of this read's cost on the
    # single decision's path; raw() still converts the columns as the fields do.
    table = connection.ops.quote_name(FraudWarning._meta.db_table)
    wanted = sorted(keys | by_phone)
    if connection.vendor == "postgresql":
        found = FraudWarning.objects.raw(f"SELECT * FROM {table} WHERE state = %s AND citizen_key = ANY(%s) "  # noqa: S608
                                         "FOR UPDATE", [WarningState.OPEN.value, wanted])
    else:
        found = FraudWarning.objects.raw(f"SELECT * FROM {table} WHERE state = %s AND citizen_key IN "  # noqa: S608
                                         f"({', '.join(['%s'] * len(wanted))})", [WarningState.OPEN.value, *wanted])
    open_warnings = {w.citizen_key: w for w in found}
    existing = {w.pk for w in open_warnings.values()}
    rekeyed: set[int] = set()
    handed: dict[int, list[str]] = {}  # id(warning) → levels handed out in this batch, in order
    touched: dict[int, FraudWarning] = {}
    for s in hit:
        signal = s.signal
        warning = open_warnings.get(signal.citizen_key)
        if warning is None and signal.citizen_id_number and signal.citizen_phone:
            warning = open_warnings.pop(f"phone:{signal.citizen_phone}", None)
            if warning is not None:
                warning.citizen_key = signal.citizen_key
                warning.citizen_id_number = signal.citizen_id_number
                open_warnings[signal.citizen_key] = warning
                if warning.pk is not None:
                    rekeyed.add(warning.pk)
                    decisions.rekeyed.append(str(warning.pk))
        before = warning.level if warning is not None else RiskLevel.NONE
        reasons: dict[str, dict[str, Any]] = {r["rule"]: r for r in (warning.reasons if warning else [])}
        for h in s.hits:
            reasons.setdefault(h["rule"], h)
        total = sum(r["weight"] for r in reasons.values())
        level = compiled.level(total)
        if warning is None:
            if level == RiskLevel.NONE:
                continue  # a weak signal alone: kept, and counted by later windows
            warning = FraudWarning(
                citizen_key=signal.citizen_key, citizen_name=signal.citizen_name, citizen_phone=signal.citizen_phone,
                citizen_id_number=signal.citizen_id_number, unit_id=signal.unit_id, level=level, score=total,
                reasons=list(reasons.values()), rule_version=compiled.version, signal_count=0, opened_at=now,
                last_signal_at=signal.occurred_at)
            open_warnings[signal.citizen_key] = warning
            result.warnings_opened += 1
        if not warning.citizen_phone and signal.citizen_phone:
            warning.citizen_phone = signal.citizen_phone  # the SMS of a later low level needs it
        warning.score = total
        warning.reasons = list(reasons.values())
        warning.signal_count += 1
        warning.last_signal_at = max(warning.last_signal_at, signal.occurred_at)
        if LEVEL_RANK[RiskLevel(level)] > LEVEL_RANK[RiskLevel(before)]:
            warning.level = level
            handed.setdefault(id(warning), []).append(level)
            warning.due_at = None if level == RiskLevel.LOW else now + TASK_DEADLINES[RiskLevel(level)]
            if before != RiskLevel.NONE:
                result.raised += 1
        touched[id(warning)] = warning
        s.warning = warning
    created = [w for w in touched.values() if w.pk is None]
    FraudWarning.objects.bulk_create(created)
    reasons_field = FraudWarning._meta.get_field("reasons")
    to_time = _db_time_adapter()
    update = (f"UPDATE {connection.ops.quote_name(FraudWarning._meta.db_table)} SET score = %s, "  # noqa: S608
              "reasons = %s, signal_count = %s, last_signal_at = %s, level = %s, due_at = %s, citizen_key = %s, "
              "citizen_id_number = %s, citizen_phone = %s WHERE id = %s")
    changed = [(w.score, reasons_field.get_db_prep_value(w.reasons, connection), w.signal_count,
                to_time(w.last_signal_at), w.level, to_time(w.due_at) if w.due_at else None, w.citizen_key,
                w.citizen_id_number, w.citizen_phone, w.pk) for w in touched.values() if w.pk in existing]
    pending: tuple[str, Sequence[Any]] | None = None
    with connection.cursor() as cursor:  # a few rows: plain UPDATEs beat bulk_update's CASE per column
        if len(changed) == 1 and connection.vendor == "postgresql":
            pending = (update, changed[0])  # the single decision: it goes with the signals' insert
        elif len(changed) == 1:  # psycopg's executemany sets up a pipeline first
            cursor.execute(update, changed[0])
        elif changed:
            cursor.executemany(update, changed)
    _hand_out([(w, handed[id(w)]) for w in touched.values() if id(w) in handed], existing, now, actor, decisions)
    return pending


def _warning_url(warning: FraudWarning) -> str:
    try:
        return reverse("antifraud:warning", args=[warning.pk])
    except NoReverseMatch:
        return ""


def _hand_out(raised: list[tuple[FraudWarning, list[str]]], existing: set[int], now: datetime,
              actor: User | None, decisions: _Decisions) -> None:
    """Each level's task, as if handed out signal by signal: a raise cancels the warning's
    open task, so of the levels one batch went through only the last task stays open.
    Low risk is an SMS in the outbox, which stays when the level rises. The work items are
    audited in the batch's entry (decisions), not one entry per call."""
    if not raised:
        return
    decisions.cancelled += core_services.workitems_close(
        actor=actor, source_app="antifraud", source_type="warning",
        source_ids=[str(w.pk) for w, _l in raised if w.pk in existing], status=WorkItemStatus.CANCELLED,
        audited=False)
    items: list[core_services.NewWorkItem] = []
    passed: dict[str, list[str]] = {}  # task kind → warnings that went past it in this batch
    sms: list[SmsOutbox] = []
    text = _("【反诈预警】您可能正在遭遇电信网络诈骗，请勿转账。如有疑问请拨打 96110。")
    for warning, levels in raised:
        for n, level in enumerate(levels):
            if level == RiskLevel.LOW:
                if warning.citizen_phone:
                    sms.append(SmsOutbox(warning=warning, phone=warning.citizen_phone, text=text, created_at=now))
                continue
            name = warning.citizen_name or _("群众")
            title = (_("劝阻：%(name)s 疑似正在被骗，请立即上门或电话劝阻") if level == RiskLevel.HIGH
                     else _("96110 回访：%(name)s 存在被骗风险")) % {"name": name}
            items.append(core_services.NewWorkItem(
                title=title, kind=TASK_KINDS[RiskLevel(level)], dedupe_key=f"antifraud:warning:{warning.pk}:{level}",
                assignee_unit_id=warning.unit_id,
                priority=WorkItemPriority.URGENT if level == RiskLevel.HIGH else WorkItemPriority.HIGH,
                due_at=now + TASK_DEADLINES[RiskLevel(level)], source_app="antifraud", source_type="warning",
                source_id=str(warning.pk), url=_warning_url(warning)))
            if n < len(levels) - 1:
                passed.setdefault(TASK_KINDS[RiskLevel(level)], []).append(str(warning.pk))
    if sms:
        SmsOutbox.objects.bulk_create(sms, ignore_conflicts=True)
        decisions.sms += len(sms)
    core_services.workitems_create_many(actor=actor, items=items, audited=False)
    decisions.tasks += [i.dedupe_key for i in items]
    for kind, ids in passed.items():
        decisions.cancelled += core_services.workitems_close(
            actor=actor, source_app="antifraud", source_type="warning", source_ids=ids, kinds=[kind],
            status=WorkItemStatus.CANCELLED, audited=False)


# --- raw bulk writes of the hot path ----------------------------------------------------

_SIGNAL_COLUMNS: Final = ["message_id", "partner", "kind", "citizen_key", "counterpart_kind", "counterpart",
                          "account", "duration_seconds", "amount_fen", "device", "ip", "occurred_at",
                          "received_at", "score", "hits", "warning_id"]


def _sqlite_time(value: datetime) -> str:
    # Naive UTC text, as Django's own adapter writes it (str() of the naive value).
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ")


_Query = tuple[str, list[Any] | None, Sequence[Any]]


def _select(sql: str, values: list[Any], before: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Raw rows of `sql`, which ends with the column the `values` are looked up in (the ORM
    spends more preparing a 500-value IN list than the database spends answering it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{sql} = ANY(%s)", [*before, values])
        else:
            cursor.execute(f"{sql} IN ({', '.join(['%s'] * len(values))})", [*before, *values])
        return cursor.fetchall()


def _select_union(parts: list[tuple[int, _Query]]) -> list[tuple[Any, ...]]:
    """PostgreSQL: several _select queries of three columns in one statement, each row
    tagged with its query's number (values None: the query looks nothing up)."""
    sql, params = [], []
    for n, (query, values, before) in parts:
        sql.append(f"SELECT {int(n)}, a::text, b::timestamptz, c::text FROM "  # noqa: S608 (our queries)
                   f"({query}{' = ANY(%s)' if values is not None else ''}) AS q{int(n)}(a, b, c)")
        params += [*before, *([values] if values is not None else [])]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(sql), params)
        return cursor.fetchall()


def _from_sqlite_time(value: datetime | str) -> datetime:
    # Django's SQLite connection parses declared datetime columns into naive UTC values.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def _from_db_time_adapter() -> Callable[[Any], datetime]:
    if connection.vendor == "sqlite":
        return _from_sqlite_time
    return lambda value: value


def _db_time_adapter() -> Callable[[datetime], Any]:
    if connection.vendor == "sqlite":
        return _sqlite_time
    return lambda value: value


def _insert_signals(scored: list[_Scored], now: datetime,
                    pending: tuple[str, Sequence[Any]] | None = None) -> dict[str, int]:
    """Every signal is kept (partners' evidence, and the account windows count quiet transfers);
    the ORM's per-object work is skipped: values are adapted once per column kind. Returns the
    row ids of the signals that hit (the links name them)."""
    hits_field = Signal._meta.get_field("hits")
    no_hits = hits_field.get_db_prep_value([], connection)
    to_time = _db_time_adapter()
    received = to_time(now)
    adapt_ip = connection.ops.adapt_ipaddressfield_value
    rows: list[tuple[Any, ...]] = []
    hit_rows: list[tuple[Any, ...]] = []
    for s in scored:
        x = s.signal
        (hit_rows if s.hits else rows).append((
            x.message_id, x.partner, x.kind, x.citizen_key, x.counterpart_kind, x.counterpart, x.account,
            x.duration_seconds, x.amount_fen, x.device, adapt_ip(x.ip) if x.ip else None,
            to_time(x.occurred_at), received, s.score,
            hits_field.get_db_prep_value(s.hits, connection) if s.hits else no_hits,
            s.warning.pk if s.warning is not None else None))
    _insert_rows(Signal._meta.db_table, _SIGNAL_COLUMNS, rows)
    if not hit_rows:
        return {}
    # The few that hit: one INSERT … RETURNING gives the ids the links name; `pending` (the
    # single decision's warning UPDATE, PostgreSQL) rides along as a CTE: one round trip.
    quote = connection.ops.quote_name
    one = "(" + ", ".join(["%s"] * len(_SIGNAL_COLUMNS)) + ")"
    head, params = (f"WITH w AS ({pending[0]}) ", [*pending[1]]) if pending else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(f"{head}INSERT INTO {quote(Signal._meta.db_table)} "  # noqa: S608
                       f"({', '.join(quote(c) for c in _SIGNAL_COLUMNS)}) "
                       f"VALUES {', '.join([one] * len(hit_rows))} RETURNING message_id, id",
                       [*params, *(v for row in hit_rows for v in row)])
        return dict(cursor.fetchall())


# Up to this many rows PostgreSQL takes one multi-row INSERT (the single decision's path).
COPY_FROM_ROWS: Final = 20


def _insert_rows(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """SQLite: executemany (its C loop is the fast path). PostgreSQL: COPY, whose rows
    psycopg adapts in C (a long multi-row INSERT spends its time parsing placeholders)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > COPY_FROM_ROWS:
            with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        if connection.vendor == "postgresql":  # a few rows: one INSERT is one round trip, COPY is three
            cursor.execute(f"INSERT INTO {quote(table)} ({names}) VALUES {', '.join([one] * len(rows))}",  # noqa: S608
                           [v for row in rows for v in row])
            return
        cursor.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES {one}", rows)  # noqa: S608 (our names)


# --- the officer's side -----------------------------------------------------------------

def warning_outcome_record(*, actor: User, warning: FraudWarning, outcome: str, note: str = "",
                           report_data: Any = None, now: datetime | None = None) -> FraudWarning:
    """Close a warning with its outcome. "defrauded" files the victim's report at once
    (services.fraud_report_submit, whose stop-payments then leave for the banks)."""
    from jingwu.antifraud import services

    now = now or timezone.now()
    access.check(actor, Action.WARNING_HANDLE, warning.unit, object_type="fraud_warning", object_id=warning.pk)
    if outcome not in WarningOutcome.values:
        raise _fail("outcome", _("处置结果须为 %(v)s 之一") % {"v": ", ".join(WarningOutcome.values)})
    if len(note) > 500:
        raise _fail("note", _("说明最多 500 字"))
    if outcome == WarningOutcome.DEFRAUDED and report_data is None:
        raise _fail("report", _("已被骗须同时录入报案"))
    with transaction.atomic():
        locked = FraudWarning.objects.select_for_update().get(pk=warning.pk)
        if locked.state != WarningState.OPEN:
            raise _fail("outcome", _("该预警已处置"))
        if outcome == WarningOutcome.DEFRAUDED:
            submitted = services.fraud_report_submit(actor=actor, unit=locked.unit, data=report_data, now=now)
            locked.report = submitted.report
        locked.state = WarningState.CLOSED
        locked.outcome = outcome
        locked.outcome_note = note
        locked.outcome_at = now
        locked.outcome_by = actor
        locked.save()
        core_services.workitems_close(actor=actor, source_app="antifraud", source_type="warning",
                                      source_ids=[str(locked.pk)])
        audit.record(actor=actor, action="antifraud.warning_outcome", object_type="fraud_warning",
                     object_id=str(locked.pk), unit_code=locked.unit.code,
                     details={"outcome": outcome, "level": locked.level,
                              "report": locked.report.number if locked.report else ""})
    return locked


def watchlist_add(*, actor: User, kind: str, raw: str, source: str, expires_at: datetime | None = None,
                  note: str = "", bank: str = "") -> WatchListEntry:
    access.check(actor, Action.FRAUD_LISTS_MANAGE, None, object_type="watchlist")
    if kind not in ListKind.values:
        raise _fail("kind", _("名单类型须为 %(v)s 之一") % {"v": ", ".join(ListKind.values)})
    if not source.strip():
        raise _fail("source", _("须注明名单来源"))
    try:
        found = indicators.account(raw, bank) if kind == "account" else getattr(indicators, kind)(raw)
    except indicators.IndicatorError as exc:
        raise _fail("value", str(exc)) from None
    with transaction.atomic():
        entry, _created = WatchListEntry.objects.update_or_create(
            kind=kind, value=found.value, source=source.strip()[:100],
            defaults={"expires_at": expires_at, "note": note[:300], "added_by": actor, "retired_at": None,
                      "retired_by": None, "retire_reason": ""})
        watchlist_changed()
        audit.record(actor=actor, action="antifraud.watchlist_add", object_type="watchlist",
                     object_id=str(entry.pk), details={"kind": kind, "source": entry.source,
                                                       "expires_at": expires_at.isoformat() if expires_at else ""})
    return entry


def signal_partner_bind(*, actor: User | None, code: str, user: User | None) -> SignalPartner | None:
    """Bind a partner code to the partner user whose tokens push under it (None: unbind).
    Run by an administrator (`jingwu signal-partner`); the user must hold the partner role."""
    if actor is not None:
        access.check(actor, Action.FRAUD_ANALYSE, None, object_type="signal_partner", object_id=code)
    if not code or len(code) > 40 or ":" in code:
        raise _fail("code", _("合作方代码须为 1 到 40 个字符，且不含冒号"))
    if user is not None and not access.can(user, Action.WARNING_SIGNAL_PUSH):
        raise _fail("user", _("用户 %(u)s 没有合作单位系统角色，不能推送信号") % {"u": user.username})
    with transaction.atomic():
        current = SignalPartner.objects.select_for_update().filter(code=code).select_related("user").first()
        before = current.user.username if current is not None else None
        bound: SignalPartner | None = None
        if user is None:
            SignalPartner.objects.filter(code=code).delete()
        else:
            bound, _created = SignalPartner.objects.update_or_create(code=code, defaults={"user": user})
        audit.record(actor=actor, action="antifraud.signal_partner", object_type="signal_partner", object_id=code,
                     details={"user": user.username if user is not None else None, "before": before})
    return bound


def ruleset_publish(*, actor: User, ruleset: dict[str, Any], note: str = "") -> RuleSet:
    """A new version of the rules; earlier warnings keep the version that scored them."""
    access.check(actor, Action.FRAUD_LISTS_MANAGE, None, object_type="ruleset")
    try:
        rules.validate(ruleset)
    except rules.RuleSetError as exc:
        raise _fail("rules", str(exc)) from None
    with transaction.atomic():
        last = RuleSet.objects.select_for_update().order_by("-version").first()
        version = max(last.version if last else 0, int(rules.DEFAULT_RULES["version"])) + 1
        RuleSet.objects.filter(active=True).update(active=False)  # one active version
        now = timezone.now()
        row = RuleSet.objects.create(version=version, rules={**ruleset, "version": version}, note=note[:300],
                                     created_by=actor, created_at=now, active=True, published_at=now,
                                     published_by=actor)
        watchlist_changed()  # every process's engine cache takes the new set from its next batch
        audit.record(actor=actor, action="antifraud.ruleset_publish", object_type="ruleset",
                     object_id=str(version), details={"rules": [r["id"] for r in ruleset["rules"]]})
    return row


def rule_statistics(warnings: Iterable[FraudWarning] | None = None) -> dict[str, dict[str, int]]:
    """Per rule: closed warnings it contributed to, by outcome (how well each rule predicts)."""
    rows = warnings if warnings is not None else FraudWarning.objects.filter(state=WarningState.CLOSED)
    stats: dict[str, dict[str, int]] = {}
    for w in rows:
        for reason in w.reasons:
            entry = stats.setdefault(reason["rule"], {"warnings": 0, **{o: 0 for o in WarningOutcome.values}})
            entry["warnings"] += 1
            if w.outcome:
                entry[w.outcome] += 1
    return stats


def warning_figures(warnings: Any) -> dict[str, Any]:
    """The centre's figures over a (scoped) warning queryset: by level, by outcome, open, and
    frauds prevented (warnings closed as dissuaded)."""
    by_level = dict(warnings.order_by().values_list("level").annotate(n=Count("id")).values_list("level", "n"))
    by_outcome = dict(warnings.order_by().exclude(outcome="").values_list("outcome").annotate(n=Count("id"))
                      .values_list("outcome", "n"))
    return {"by_level": [(str(label), by_level.get(code, 0)) for code, label in RiskLevel.choices
                         if code != RiskLevel.NONE],
            "by_outcome": [(str(label), by_outcome.get(code, 0)) for code, label in WarningOutcome.choices],
            "open": warnings.filter(state=WarningState.OPEN).count(),
            "prevented": by_outcome.get(WarningOutcome.DISSUADED, 0)}
