"""Synthetic fraud for the demo, the linking benchmark and the tests: deterministic per seed.

`fraud_seed` plants fraud rings in the seeded province. A ring has mule accounts (the
first layer victims pay), collector accounts the mules drain into, fraud numbers, and for
some kinds an app and a URL, all shared across its victims. Each victim follows the
timeline of the ring's fraud type:

- 刷单返利: contact, the app, a few small tasks paid back, then escalating transfers;
- 杀猪盘: weeks of calls and messages, then a few large transfers;
- 冒充公检法: one call, one urgent large transfer;
- 虚假投资理财: a URL and an app, then growing "investments".

Lone frauds (one victim, identifiers nobody else used) are mixed in, and victims report
what they remember, written as people write it: some numbers or apps forgotten, spaces,
dashes, +86, full-width letters, and the everyday app they were first contacted on
(微信, QQ …), which says nothing about the ring.

Written: the reports (as taken at the victim's station, with their stop-payment history:
stopped, moved on to a collector and chased, frozen, returned), the watch list as the
centre built it (each ring's numbers listed a day after its first report), and linked.
Files beside the ground truth (`var/synthetic/antifraud-seed<seed>.json`):
`antifraud-accounts-seed<seed>.json` for `jingwu bank-sim` (the mules and collectors with
their balances and onward transfers, so the simulator answers as the seeded money moved)
and `antifraud-signals-seed<seed>.jsonl`, the partners' signal stream in the API's item
format, noise included (ordinary calls, ring numbers calling people who hung up).

Labels in the ground truth: each report's ring (or none), and whether a timely warning
would have saved the victim: a signal with a number, app or URL already on the watch list
reached us at least `WARNING_LEAD` before the first transfer. A second run with the same
seed finds its reports and writes nothing."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from jingwu.antifraud import early_warning, indicators, linking
from jingwu.antifraud.models import (
    FraudReport,
    FraudType,
    IdentifierSource,
    ReportChannel,
    ReportIdentifier,
    StopPaymentRequest,
    StopState,
    Transfer,
)
from jingwu.antifraud.warning_models import FraudWarning, WarningOutcome, WarningState, WatchListEntry
from jingwu.core import services as core_services
from jingwu.core.identifiers import luhn_check_digit, make_resident_id
from jingwu.core.models import Unit, UnitKind
from jingwu.synthetic.names import given_name_draw, surname_draw
from jingwu.synthetic.province import id_address_code

MINUTE: Final = dt.timedelta(minutes=1)
DAY: Final = dt.timedelta(days=1)
WARNING_LEAD: Final = dt.timedelta(minutes=30)  # time a warning needs to reach a person
LIST_SOURCE: Final = "部反诈中心"
# Seeded warnings older than this carry an outcome; newer ones wait in the stations' inboxes.
HANDLED_AFTER: Final = dt.timedelta(days=7)
CARD_BANKS: Final = ("ICBC", "ABC", "BOC", "CCB", "BOCOM", "PSBC", "CMB", "CITIC", "CEB", "CMBC", "PAB", "CIB",
                     "QLB", "RCB-SD")
# Everyday platforms victims name as where the contact began: in many reports, in no ring.
EVERYDAY_APPS: Final = ("微信", "QQ", "抖音", "WeChat")
RING_KINDS: Final = {FraudType.ORDER_REBATE: 40, FraudType.ROMANCE: 25, FraudType.FAKE_OFFICIALS: 20,
                     FraudType.INVESTMENT: 15}
APP_STEMS: Final = ("速赚", "点点", "乐享", "星光", "金牛", "优选", "聚财", "云端")
APP_TAILS: Final = ("任务", "商城", "理财", "淘客", "直播", "投资")
NARRATIVES: Final[dict[str, str]] = {
    FraudType.ORDER_REBATE: "对方以网络刷单返利为名，先返还小额佣金，后以任务未完成为由要求多次垫付。",
    FraudType.ROMANCE: "网上结识对方，交往数周后被诱导在投资平台充值，无法提现。",
    FraudType.FAKE_OFFICIALS: "对方自称公安机关民警，称受害人涉嫌洗钱，要求将资金转入“安全账户”。",
    FraudType.INVESTMENT: "被拉入投资群，按“导师”指导在平台充值，金额越投越大，无法提现。",
    FraudType.OTHER: "被骗后报案。",
}


def ground_truth_path(seed: int, directory: Path | None = None) -> Path:
    return (directory or Path(settings.VAR_DIR) / "synthetic") / f"antifraud-seed{seed}.json"


def accounts_path(seed: int, directory: Path | None = None) -> Path:
    return ground_truth_path(seed, directory).with_name(f"antifraud-accounts-seed{seed}.json")


def signals_path(seed: int, directory: Path | None = None) -> Path:
    return ground_truth_path(seed, directory).with_name(f"antifraud-signals-seed{seed}.jsonl")


@dataclass
class Account:
    bank: str
    number: str
    drains: bool = False  # moves what it receives on to a collector within minutes


@dataclass
class Ring:
    code: str
    fraud_type: str
    mules: list[Account]
    collectors: list[Account]
    phones: list[str]
    apps: list[str]
    urls: list[str]
    listed_at: dt.datetime | None = None


@dataclass
class Contact:
    at: dt.datetime
    kind: str  # call, sms, app_install, url_visit
    counterpart: str
    duration: int | None = None


@dataclass
class Victim:
    ring: Ring | None
    station: Unit
    name: str
    id_number: str
    phone: str
    device: str
    contacts: list[Contact]
    transfers: list[tuple[Account, int, dt.datetime]]
    reported_at: dt.datetime
    phones: list[str] = field(default_factory=list)  # as reported (noisy)
    apps: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    fraud_type: str = FraudType.OTHER


@dataclass(frozen=True)
class FraudSeedReport:
    reports: int
    rings: int
    saveable: int
    existing: bool
    ground_truth: Path
    signals: int = 0  # pushed through the early-warning engine
    warnings: dict[str, int] = field(default_factory=dict)  # by level
    open_warnings: int = 0


# --- drawing -----------------------------------------------------------------------------------

def _card(rng: random.Random, bank: str) -> Account:
    stem = "62" + "".join(str(rng.randrange(10)) for _i in range(rng.choice((14, 16))))
    return Account(bank, stem + luhn_check_digit(stem))


def _fraud_phone(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:  # virtual operators' ranges, the usual tool
        return f"+86{rng.choice(('170', '171', '165', '167'))}{rng.randrange(10**8):08d}"
    if roll < 0.85:
        return f"+86{rng.choice(('133', '153', '186', '139', '150'))}{rng.randrange(10**8):08d}"
    return f"+{rng.choice(('852', '855', '63'))}{rng.randrange(10**7, 10**8)}"


def _citizen_phone(rng: random.Random) -> str:
    return f"{rng.choice(('138', '139', '158', '188', '135', '152', '178'))}{rng.randrange(10**8):08d}"


def _noisy_phone(rng: random.Random, e164: str) -> str:
    if not e164.startswith("+86"):
        return e164 if rng.random() < 0.5 else "00" + e164[1:]
    national = e164[3:]
    return rng.choice((national, f"{national[:3]} {national[3:7]} {national[7:]}", f"{national[:3]}-{national[3:7]}-"
                       f"{national[7:]}", e164, f"+86 {national}"))


def _noisy_app(rng: random.Random, name: str) -> str:
    if name.isascii():
        return rng.choice((name, name.upper(), name.capitalize(),
                           "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)))
    return rng.choice((name, f" {name} ", name))


def _noisy_url(rng: random.Random, url: str) -> str:
    host = url.split("://", 1)[1].rstrip("/")
    return rng.choice((url, host, host.upper(), f"https://{host}/", f"{host}/#/login"))


def _fresh(rng: random.Random, taken: set[str], draw: Any) -> str:
    """A name no other ring uses (two gangs naming their app alike would be one network)."""
    while (value := draw()) in taken:
        pass
    taken.add(value)
    return str(value)


def _ring(rng: random.Random, n: int, fraud_type: str, taken: set[str]) -> Ring:
    mules = [_card(rng, rng.choice(CARD_BANKS)) for _i in range(rng.randint(2, 5))]
    collectors = [_card(rng, rng.choice(CARD_BANKS)) for _i in range(rng.randint(1, 2))]
    for mule in mules:
        mule.drains = rng.random() < 0.6
    apps: list[str] = []
    urls: list[str] = []
    if fraud_type in (FraudType.ORDER_REBATE, FraudType.INVESTMENT):
        apps = [_fresh(rng, taken, lambda: rng.choice(APP_STEMS) + rng.choice(APP_TAILS) + rng.choice(
            ("", "", "Pro", "极速版", "2")) if rng.random() < 0.7 else f"{rng.randrange(16**6):06x}task")]
        urls = [_fresh(rng, taken, lambda: f"http://{rng.choice(('vip', 'h5', 'app', 'dl'))}{rng.randrange(100, 999)}."
                       f"{rng.choice(('example.com', 'example.net', 'example.org'))}/")]
    return Ring(f"R{n:03d}", fraud_type, mules, collectors, [_fraud_phone(rng) for _i in range(rng.randint(2, 4))],
                apps, urls)


def _person(rng: random.Random, station: Unit, n: int) -> tuple[str, str, str]:
    county = [p for p in station.path.split("/") if p][2]
    birth_year = rng.randint(1950, 2004)
    sex = rng.choice("MF")
    birth = dt.date(birth_year, rng.randint(1, 12), rng.randint(1, 28))
    sequence = (n % 499) * 2 + (1 if sex == "M" else 0)
    id_number = make_resident_id(id_address_code(county, birth_year), birth, sequence)
    return surname_draw(rng) + given_name_draw(rng, sex, birth_year), id_number, _citizen_phone(rng)


Money = list[tuple[int, dt.datetime]]


def _timeline(rng: random.Random, ring: Ring, start: dt.datetime) -> tuple[list[Contact], Money]:
    """Contacts before and around the money, and (amount in fen, time) of each transfer."""
    phone = rng.choice(ring.phones)
    contacts: list[Contact] = []
    money: Money = []
    at = start
    if ring.fraud_type == FraudType.ORDER_REBATE:
        contacts.append(Contact(at, "sms", phone))
        at += rng.randint(10, 120) * MINUTE
        contacts.append(Contact(at, "url_visit", ring.urls[0]))
        contacts.append(Contact(at + 2 * MINUTE, "app_install", ring.apps[0]))
        at += rng.randint(1, 3) * DAY  # small tasks paid back, then the big ones
        amount = rng.choice((500, 1000, 2000)) * 100
        for _i in range(rng.randint(2, 5)):
            money.append((amount, at))
            at += rng.randint(8, 90) * MINUTE
            amount = int(amount * rng.uniform(2.0, 3.5)) // 100 * 100
    elif ring.fraud_type == FraudType.ROMANCE:
        for _day in range(rng.randint(14, 45)):
            if rng.random() < 0.5:
                contacts.append(Contact(at, rng.choice(("call", "sms")), phone, rng.randint(60, 1800)))
            at += DAY + rng.randint(-120, 120) * MINUTE
        for _i in range(rng.randint(2, 4)):
            money.append((rng.randint(30_000, 300_000) * 100, at))
            at += rng.randint(1, 4) * DAY
    elif ring.fraud_type == FraudType.FAKE_OFFICIALS:
        contacts.append(Contact(at, "call", phone, rng.randint(900, 5400)))
        money.append((rng.randint(50_000, 800_000) * 100, at + rng.randint(20, 150) * MINUTE))
    else:  # investment
        contacts.append(Contact(at, "call", phone, rng.randint(60, 600)))
        at += rng.randint(1, 5) * DAY
        contacts.append(Contact(at, "url_visit", ring.urls[0]))
        contacts.append(Contact(at + MINUTE, "app_install", ring.apps[0]))
        amount = rng.randint(5_000, 30_000) * 100
        for _i in range(rng.randint(2, 4)):
            at += rng.randint(1, 6) * DAY
            money.append((amount, at))
            amount = int(amount * rng.uniform(1.5, 3.0)) // 100 * 100
    return contacts, money


def _victim(rng: random.Random, ring: Ring, station: Unit, start: dt.datetime, n: int) -> Victim:
    name, id_number, phone = _person(rng, station, n)
    contacts, money = _timeline(rng, ring, start)
    # Mules are not used evenly: the newest take most of the money.
    weights = [2 ** i for i in range(len(ring.mules))]
    transfers = [(rng.choices(ring.mules, weights=weights)[0], amount, at) for amount, at in money]
    reported = transfers[-1][2] + rng.randint(20, 48 * 60) * MINUTE
    victim = Victim(ring, station, name, id_number, phone, f"IMEI-{rng.randrange(10**14, 10**15)}", contacts,
                    transfers, reported, fraud_type=ring.fraud_type)
    seen = {c.counterpart for c in contacts}
    victim.phones = [_noisy_phone(rng, p) for p in ring.phones if p in seen and rng.random() < 0.7]
    victim.apps = [_noisy_app(rng, a) for a in ring.apps if rng.random() < 0.6]
    victim.urls = [_noisy_url(rng, u) for u in ring.urls if rng.random() < 0.5]
    if rng.random() < 0.35:
        victim.apps.append(rng.choice(EVERYDAY_APPS))
    return victim


def _lone(rng: random.Random, station: Unit, start: dt.datetime, n: int, taken: set[str]) -> Victim:
    """A fraud with no ring behind it in our data: its own account and number."""
    fraud_type = rng.choice([t for t in RING_KINDS if t != FraudType.ROMANCE])
    own = _ring(rng, 0, fraud_type, taken)
    own.code, own.mules = "", own.mules[:1]
    victim = _victim(rng, own, station, start, n)
    victim.ring = None
    return victim


# --- writing -----------------------------------------------------------------------------------

def _stops(report: FraudReport, transfers: list[Transfer], victim: Victim,
           rng: random.Random) -> tuple[list[StopPaymentRequest], list[tuple[str, str]]]:
    """Hop-0 requests per payee, answered as the accounts file says the money moved; a
    drained mule's request is chased to its collector. Returns (requests, onward accounts)."""
    sent = report.first_stop_sent_at or report.created_at
    mules = {(m.bank, m.number): m for m in victim.ring.mules} if victim.ring else {}
    ring = victim.ring
    totals: dict[tuple[str, str], tuple[Transfer, int]] = {}
    for t in transfers:
        first, total = totals.get((t.payee_bank, t.payee_account), (t, 0))
        totals[(t.payee_bank, t.payee_account)] = (first, total + t.amount_fen)
    rows: list[StopPaymentRequest] = []
    onward: list[tuple[str, str]] = []
    for i, ((bank, number), (first, total)) in enumerate(totals.items()):
        at = sent + i * dt.timedelta(seconds=2)
        answered = at + rng.randint(1, 20) * MINUTE
        mule = mules.get((bank, number))
        common = {"report": report, "transfer": first, "bank": bank, "account": number, "amount_fen": total,
                  "sent_at": at, "acknowledged_at": at, "answered_at": answered, "created_at": at,
                  "idempotency_key": f"seed-{report.number}-{i}", "attempts": 1}
        if mule is not None and mule.drains and ring is not None:
            parent = StopPaymentRequest(state=StopState.MOVED_ONWARD, hop=0, **common)
            collector = ring.collectors[(i + len(report.number)) % len(ring.collectors)]
            onward.append((collector.bank, collector.number))
            rows.append(parent)
            stopped = int(total * rng.uniform(0.1, 0.6))
            rows.append(_final(StopPaymentRequest(
                report=report, transfer=first, hop=1, bank=collector.bank, account=collector.number,
                amount_fen=total, sent_at=answered, acknowledged_at=answered, answered_at=answered + 3 * MINUTE,
                created_at=answered, idempotency_key=f"seed-{report.number}-{i}-1", attempts=1), stopped, rng))
        else:
            stopped = total if rng.random() < 0.5 else int(total * rng.uniform(0.2, 0.9))
            rows.append(_final(StopPaymentRequest(hop=0, **common), stopped, rng))
    return rows, onward


def _final(stop: StopPaymentRequest, stopped: int, rng: random.Random) -> StopPaymentRequest:
    """Where a stopped request stands now: released at expiry, frozen, or frozen and returned."""
    answered = stop.answered_at or stop.created_at
    stop.amount_stopped_fen = max(1, stopped)
    stop.expires_at = answered + 2 * DAY
    roll = rng.random()
    if roll < 0.25:
        stop.state, stop.released_at, stop.release_reason = StopState.RELEASED, stop.expires_at, "expired"
    elif roll < 0.6:
        stop.state, stop.frozen_at = StopState.FROZEN, answered + rng.randint(2, 40) * dt.timedelta(hours=1)
        stop.amount_frozen_fen = stop.amount_stopped_fen
        stop.freeze_document = f"冻字〔{answered:%Y}〕{rng.randrange(1, 999)}号"
    else:
        stop.state, stop.frozen_at = StopState.RETURNED, answered + rng.randint(2, 40) * dt.timedelta(hours=1)
        stop.amount_frozen_fen = stop.amount_stopped_fen
        stop.freeze_document = f"冻字〔{answered:%Y}〕{rng.randrange(1, 999)}号"
        stop.returned_at = stop.frozen_at + rng.randint(3, 20) * DAY
        stop.amount_returned_fen = stop.amount_frozen_fen
        stop.return_document = f"返字〔{answered:%Y}〕{rng.randrange(1, 999)}号"
    return stop


def _identifiers(report: FraudReport, victim: Victim, onward: list[tuple[str, str]]) -> list[ReportIdentifier]:
    rows: dict[tuple[str, str], ReportIdentifier] = {}

    def add(item: indicators.Indicator, source: str) -> None:
        rows.setdefault((item.kind, item.value), ReportIdentifier(
            report=report, kind=item.kind, value=item.value, raw=str(item.raw)[:500], source=source, valid=item.valid,
            warnings=list(item.warnings), created_at=report.created_at))

    for account, _amount, _at in victim.transfers:
        add(indicators.account(account.number, account.bank), IdentifierSource.TRANSFER)
    for raw in victim.phones:
        add(indicators.phone(raw), IdentifierSource.REPORTED)
    for raw in victim.urls:
        add(indicators.url(raw), IdentifierSource.REPORTED)
    for raw in victim.apps:
        add(indicators.app(raw), IdentifierSource.REPORTED)
    for bank, number in onward:
        add(indicators.account(number, bank), IdentifierSource.ONWARD)
    return list(rows.values())


def _write(victims: list[Victim], seed: int, rng: random.Random) -> list[FraudReport]:
    made: list[FraudReport] = []
    with transaction.atomic():
        for n, victim in enumerate(victims, start=1):
            created = victim.reported_at + rng.randint(5, 40) * MINUTE
            first_stop = created + dt.timedelta(seconds=rng.lognormvariate(4.5, 0.8))  # median ≈ 1.5 min
            local = timezone.localtime(created)
            loss = sum(amount for _a, amount, _at in victim.transfers)
            report = FraudReport.objects.create(
                number=f"FZS{seed % 1000:03d}{local:%y%m%d}{n:06d}", unit=victim.station, channel=ReportChannel.OFFICER,
                fraud_type=victim.fraud_type, victim_name=victim.name, victim_id_number=victim.id_number,
                victim_id_raw=victim.id_number, victim_phone=f"+86{victim.phone}", victim_phone_raw=victim.phone,
                loss_fen=loss, narrative=NARRATIVES.get(victim.fraud_type, NARRATIVES[FraudType.OTHER]),
                reported_at=victim.reported_at, created_at=created, first_stop_sent_at=first_stop,
                input_digest="seed")
            transfers = Transfer.objects.bulk_create([
                Transfer(report=report, position=i + 1, payee_account=account.number, payee_bank=account.bank,
                         amount_fen=amount, transferred_at=at)
                for i, (account, amount, at) in enumerate(victim.transfers)])
            stops, onward = _stops(report, transfers, victim, rng)
            parents: StopPaymentRequest | None = None
            for stop in stops:  # a hop-1 request follows its parent
                if stop.hop == 0:
                    stop.save()
                    parents = stop
                else:
                    stop.parent = parents
                    stop.save()
            ReportIdentifier.objects.bulk_create(_identifiers(report, victim, onward))
            made.append(report)
    for report in made:  # 串并案, as each report would have been linked when taken
        linking.link_report(report)
    return made


def _signals(rng: random.Random, victims: list[Victim], rings: list[Ring], stations: list[Unit],
             now: dt.datetime) -> list[dict[str, Any]]:
    """The partners' stream: every victim's contacts and transfers, plus noise."""
    items: list[dict[str, Any]] = []

    def emit(at: dt.datetime, kind: str, phone: str, station: Unit, counterpart: str, **extra: Any) -> None:
        if at > now:
            return
        partner = "BANK" if kind == "transfer" else "CMCC"
        items.append({"partner": partner, "id": f"seed-{len(items) + 1:07d}", "kind": kind,
                      "occurred_at": at.isoformat(timespec="seconds"), "citizen_phone": phone,
                      "station": station.code, "counterpart": counterpart, **extra})

    for v in victims:
        for c in v.contacts:
            extra = {"duration_seconds": c.duration} if c.duration else {}
            emit(c.at, c.kind, v.phone, v.station, c.counterpart, device=v.device, **extra)
        for account, amount, at in v.transfers:
            emit(at, "transfer", v.phone, v.station, account.number, bank=account.bank, amount_fen=amount,
                 device=v.device)
    for i in range(len(victims) * 6):  # ordinary life, and ring numbers calling people who hang up
        # One in eight at the first station, where the demo accounts work: their inbox gets warnings.
        station = stations[0] if i % 8 == 0 else rng.choice(stations)
        at = now - rng.uniform(0, 90) * DAY
        if rng.random() < 0.15 and rings:
            emit(at, "call", _citizen_phone(rng), station, rng.choice(rng.choice(rings).phones),
                 duration_seconds=rng.randint(3, 40))
        else:
            emit(at, rng.choice(("call", "sms")), _citizen_phone(rng), station, "+86" + _citizen_phone(rng),
                 duration_seconds=rng.randint(10, 900))
    items.sort(key=lambda i: i["occurred_at"])
    return items


def _saveable(victim: Victim) -> bool:
    """A listed number, app or URL reached the victim at least WARNING_LEAD before the first transfer."""
    ring = victim.ring
    if ring is None or ring.listed_at is None or not victim.transfers:
        return False
    first = victim.transfers[0][2]
    return any(ring.listed_at <= c.at <= first - WARNING_LEAD for c in victim.contacts)


def _bank_accounts(rings: list[Ring], victims: list[Victim]) -> list[dict[str, Any]]:
    """What the simulator holds: drained mules kept a little, the rest went to a collector."""
    received: dict[tuple[str, str], int] = {}
    for v in victims:
        for account, amount, _at in v.transfers:
            received[(account.bank, account.number)] = received.get((account.bank, account.number), 0) + amount
    rows = []
    for ring in rings:
        for i, mule in enumerate(ring.mules):
            got = max(received.get((mule.bank, mule.number), 0), 100_000)
            collector = ring.collectors[i % len(ring.collectors)]
            if mule.drains:
                rows.append({"bank": mule.bank, "account": mule.number, "balance_fen": got // 20,
                             "onward": [{"bank": collector.bank, "account": collector.number,
                                         "amount_fen": got - got // 20}]})
            else:
                rows.append({"bank": mule.bank, "account": mule.number, "balance_fen": got, "onward": []})
        for collector in ring.collectors:
            rows.append({"bank": collector.bank, "account": collector.number, "balance_fen": 5_000_000, "onward": []})
    return rows


def fraud_seed(*, seed: int, rings: int = 24, lone: int = 40, days: int = 90, now: dt.datetime | None = None,
               within: Unit | None = None, directory: Path | None = None,
               handled_after: dt.timedelta = HANDLED_AFTER, warn: bool = True) -> FraudSeedReport:
    """Plant `rings` fraud rings and `lone` lone frauds over the last `days` days, in the
    stations under `within` (default: all); write the ground truth and the side files."""
    now = now or timezone.now()
    path = ground_truth_path(seed, directory)
    if path.exists():
        truth = json.loads(path.read_text())
        if FraudReport.objects.filter(number=truth.get("first_number", "")).exists():
            return FraudSeedReport(truth["reports"], len(truth["rings"]), truth["saveable"], True, path)
    query = Unit.objects.filter(kind=UnitKind.STATION).order_by("path")
    if within is not None:
        query = query.filter(path__startswith=within.path)
    stations = list(query)
    if not stations:
        return FraudSeedReport(0, 0, 0, False, path)
    rng = random.Random(f"antifraud:{seed}")
    planted: list[Ring] = []
    taken: set[str] = set()
    victims: list[Victim] = []
    kinds, weights = list(RING_KINDS), list(RING_KINDS.values())
    for r in range(1, rings + 1):
        ring = _ring(rng, r, rng.choices(kinds, weights=weights)[0], taken)
        planted.append(ring)
        # A ring works one city or two: its victims live near each other.
        home = rng.choice(stations)
        nearby = [s for s in stations if s.path[:14] == home.path[:14]] or stations
        for _v in range(rng.randint(3, 10)):
            start = now - rng.uniform(3, days) * DAY
            victims.append(_victim(rng, ring, rng.choice(nearby), start, len(victims)))
    for _i in range(lone):
        victims.append(_lone(rng, rng.choice(stations), now - rng.uniform(1, days) * DAY, len(victims), taken))
    victims = [v for v in victims if v.reported_at + DAY < now]  # still unfolding: not reported yet
    victims.sort(key=lambda v: v.reported_at)
    for ring in planted:  # the centre lists a ring's numbers a day after its first report
        firsts = [v.reported_at for v in victims if v.ring is ring]
        ring.listed_at = min(firsts) + DAY if firsts else None
    reports = _write(victims, seed, rng)
    listed = {"phone": indicators.phone, "app": indicators.app, "url": indicators.url}
    WatchListEntry.objects.bulk_create([
        WatchListEntry(kind=kind, value=listed[kind](value).value, source=LIST_SOURCE, note=ring.code,
                       added_at=ring.listed_at, expires_at=ring.listed_at + 365 * DAY)
        for ring in planted if ring.listed_at is not None
        for kind, values in (("phone", ring.phones), ("app", ring.apps), ("url", ring.urls)) for value in values],
        ignore_conflicts=True)
    early_warning.watchlist_changed()  # running workers reload their list caches
    saveable = [r.number for r, v in zip(reports, victims, strict=True) if _saveable(v)]
    path.parent.mkdir(parents=True, exist_ok=True)
    accounts_path(seed, directory).write_text(json.dumps(_bank_accounts(planted, victims), indent=1))
    stream = _signals(rng, victims, planted, stations, now)
    with signals_path(seed, directory).open("w", encoding="utf-8") as out:
        for item in stream:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    if warn:  # off only for bench/antifraud_seed.py's baseline: the seed as it was before this pass
        _warn(stream, {f"phone:+86{v.phone}": r for r, v in zip(reports, victims, strict=True)}, now, handled_after)
    truth = {
        "seed": seed, "as_of": now.isoformat(), "reports": len(reports),
        "first_number": reports[0].number if reports else "", "warning_lead_minutes": WARNING_LEAD // MINUTE,
        "rings": {ring.code: {
            "fraud_type": ring.fraud_type, "listed_at": ring.listed_at.isoformat() if ring.listed_at else None,
            "mules": [[m.bank, m.number] for m in ring.mules],
            "collectors": [[c.bank, c.number] for c in ring.collectors],
            "phones": ring.phones, "apps": ring.apps, "urls": ring.urls,
            "reports": [r.number for r, v in zip(reports, victims, strict=True) if v.ring is ring]}
            for ring in planted},
        "report_ring": {r.number: (v.ring.code if v.ring else None) for r, v in zip(reports, victims, strict=True)},
        "saveable": len(saveable), "saveable_reports": saveable,
        "accounts_file": accounts_path(seed, directory).name, "signals_file": signals_path(seed, directory).name,
    }
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1))
    seeded = FraudWarning.objects.filter(citizen_key__in={f"phone:+86{i['citizen_phone']}" for i in stream})
    by_level = dict(seeded.order_by().values_list("level").annotate(n=models.Count("id")).values_list("level", "n"))
    return FraudSeedReport(len(reports), len(planted), len(saveable), False, path, len(stream), by_level,
                           seeded.filter(state=WarningState.OPEN).count())


def _warn(stream: list[dict[str, Any]], report_of: dict[str, FraudReport], now: dt.datetime,
          handled_after: dt.timedelta) -> None:
    """The partners' stream through the early-warning engine (early_warning.signals_process, in
    process) as it would have arrived: a batch per day, each processed at its last signal's
    time. Warnings older than `handled_after` are then closed as the officers would have closed
    them — the victims' as defrauded (with their report), the others as dissuaded — with
    their tasks; the newer ones stay open, their tasks in the stations' inboxes."""
    days: dict[dt.date, list[dict[str, Any]]] = {}
    for item in stream:
        at = dt.datetime.fromisoformat(item["occurred_at"])
        days.setdefault(timezone.localtime(at).date(), []).append({**item, "occurred_at": at})
    for day in sorted(days):
        items = days[day]
        for start in range(0, len(items), early_warning.MAX_BATCH):
            batch = items[start:start + early_warning.MAX_BATCH]
            at = max(i["occurred_at"] for i in batch)
            early_warning.signals_process(early_warning.signals_trusted(batch, now=at), now=at)
    handled = list(FraudWarning.objects.filter(state=WarningState.OPEN, opened_at__lt=now - handled_after,
                                               citizen_key__in={f"phone:+86{i['citizen_phone']}" for i in stream}))
    for warning in handled:
        report = report_of.get(warning.citizen_key)
        warning.state = WarningState.CLOSED
        warning.outcome = WarningOutcome.DEFRAUDED if report is not None else WarningOutcome.DISSUADED
        warning.report = report
        warning.outcome_at = min(warning.opened_at + dt.timedelta(hours=2), now)
    FraudWarning.objects.bulk_update(handled, ["state", "outcome", "report", "outcome_at"])
    core_services.workitems_close(actor=None, source_app="antifraud", source_type="warning",
                                  source_ids=[str(w.pk) for w in handled])


def summary_line(report: FraudSeedReport) -> str:
    if report.existing:
        return f"Anti-fraud: already seeded — ground truth {report.ground_truth}"
    levels = ", ".join(f"{level} {report.warnings.get(level, 0)}" for level in ("high", "medium", "low"))
    return (f"Anti-fraud: {report.reports} reports from {report.rings} rings and lone frauds "
            f"({report.saveable} a timely warning would have saved); {report.signals} signals through the "
            f"early-warning engine: warnings {levels}, {report.open_warnings} still open with their tasks; "
            f"ground truth {report.ground_truth}")


def seeded_accounts_file(directory: Path | None = None) -> Path | None:
    """The accounts file of the seed this database holds, when it exists (for `jingwu bank-sim`)."""
    from django.db import DatabaseError

    from jingwu.synthetic.selectors import seed_state

    try:
        state = seed_state()
    except DatabaseError:  # no database yet: the simulator runs on generated accounts
        return None
    if state is None:
        return None
    path = accounts_path(state.seed, directory)
    return path if path.exists() else None


@dataclass(frozen=True)
class LinkingScores:
    """Pairwise: of the report pairs in one ring, how many were linked (recall); of the pairs
    linked, how many are in one ring (precision). Lone reports are rings of one."""

    recall: float
    precision: float
    rings_whole: int  # rings whose reports all fell into one network holding nothing else
    rings: int


def linking_scores(report_ring: dict[str, str | None], network_of: dict[str, Any]) -> LinkingScores:
    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    ring_sizes: dict[str, int] = {}
    net_sizes: dict[Any, int] = {}
    cells: dict[tuple[str, Any], int] = {}
    for number, ring in report_ring.items():
        label = ring or f"lone:{number}"
        net = network_of.get(number, f"alone:{number}")
        ring_sizes[label] = ring_sizes.get(label, 0) + 1
        net_sizes[net] = net_sizes.get(net, 0) + 1
        cells[(label, net)] = cells.get((label, net), 0) + 1
    together = sum(pairs(n) for n in cells.values())
    true_pairs = sum(pairs(n) for n in ring_sizes.values())
    found_pairs = sum(pairs(n) for n in net_sizes.values())
    rings = [label for label in ring_sizes if not label.startswith("lone:")]
    whole = sum(1 for (label, net), n in cells.items()
                if not label.startswith("lone:") and n == ring_sizes[label] == net_sizes[net])
    return LinkingScores(together / true_pairs if true_pairs else 1.0,
                         together / found_pairs if found_pairs else 1.0, whole, len(rings))
