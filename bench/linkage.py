"""Benchmark: person linkage over three source systems with ground truth.

    .venv/bin/python bench/linkage.py                     # 1,000,000 records
    .venv/bin/python bench/linkage.py --records 100000    # quicker
    .venv/bin/python bench/linkage.py --data synthetic    # jingwu.synthetic's province instead
    .venv/bin/python bench/linkage.py --records 50000 --methods ours,spark   # DuckDB vs Spark

Generates (seeded) people and their records in household registration 户籍 (clean),
telecom subscriber records 电信 and hotel check-ins 旅馆 (noisy: traditional characters,
homophones, one-character typos, spaces in names, missing / 15-digit / mistyped IDs,
phone formats, birth-date typos, several records per person in one source), then runs,
each in a fresh process on the same data:

- ``ours``: jingwu.records.linkage.link (training included in the time);
- ``spark``: the same on the Spark engine (pyspark local mode, ``--threads`` cores, the
  driver JVM's memory counted in the peak; not in the default methods);
- ``incremental``: ours on a random 90%, the model saved and loaded, then the last 10%
  linked as a new batch with link_incremental (only that step is timed; the peak memory
  covers both steps);
- ``splink``: stock Splink on the same prepared IDs, phones and dates and the same
  blocking, but its stock ``NameComparison`` (Jaro-Winkler, term frequencies) on the raw
  name, trained the same way, clustered by Splink's connected components at the same
  threshold;
- ``exact_id``: one entity per validated (15→18-upgraded) ID number, else a singleton.

Scores are pairwise precision / recall / F1 against the ground truth, counted from the
cluster × person contingency table (no pair enumeration).  "F1 no-ID" scores only the
pairs in which at least one record lacks a valid ID number — the pairs where names,
dates and phones have to do the work.  Wall time covers linking
(preparation, training, scoring, clustering), not generation or file reading; peak
memory is the child process's kernel high-water mark (ru_maxrss), checked against psutil
samples taken by the parent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METHODS: Final = ("ours", "spark", "incremental", "splink", "exact_id")
DEFAULT_METHODS: Final = ("ours", "incremental", "splink", "exact_id")

# --------------------------------------------------------------------------- generation

# Common surnames with rough relative frequencies (per mille of the population), plus
# the rarer ones that pypinyin misreads and a few compound surnames.
SURNAMES: Final[dict[str, float]] = {
    "王": 72, "李": 72, "张": 68, "刘": 54, "陈": 45, "杨": 31, "黄": 22, "赵": 21, "吴": 20, "周": 19,
    "徐": 15, "孙": 15, "马": 14, "朱": 13, "胡": 12, "郭": 12, "何": 11, "高": 11, "林": 11, "罗": 10,
    "郑": 10, "梁": 9, "谢": 8, "宋": 8, "唐": 7, "许": 7, "韩": 7, "冯": 7, "邓": 7, "曹": 6,
    "彭": 6, "曾": 6, "肖": 6, "田": 6, "董": 5, "袁": 5, "潘": 5, "于": 5, "蒋": 5, "蔡": 5,
    "余": 5, "杜": 4, "叶": 4, "程": 4, "苏": 4, "魏": 4, "吕": 4, "丁": 4, "任": 4, "沈": 4,
    "姚": 4, "卢": 4, "姜": 4, "崔": 4, "钟": 3, "谭": 3, "陆": 3, "汪": 3, "范": 3, "金": 3,
    "石": 3, "廖": 3, "贾": 3, "夏": 3, "韦": 3, "付": 3, "方": 3, "白": 3, "邹": 3, "孟": 3,
    "熊": 3, "秦": 3, "邱": 3, "江": 3, "尹": 3, "薛": 2, "闫": 2, "段": 2, "雷": 2, "侯": 2,
    "龙": 2, "史": 2, "陶": 2, "黎": 2, "贺": 2, "顾": 2, "毛": 2, "郝": 2, "龚": 2, "邵": 2,
    "万": 2, "钱": 2, "严": 2, "覃": 2, "武": 2, "戴": 2, "莫": 2, "孔": 2, "向": 2, "汤": 2,
    "章": 1, "单": 1, "解": 0.5, "仇": 0.5, "区": 0.3, "查": 0.5, "朴": 0.3, "召": 0.1, "缪": 0.5,
    "盖": 0.5, "翟": 1, "乐": 0.5, "柏": 0.3, "纪": 1, "燕": 0.5, "华": 1, "曲": 1, "过": 0.2,
    "欧阳": 0.8, "司马": 0.2, "诸葛": 0.1, "上官": 0.2, "皇甫": 0.1, "尉迟": 0.05, "长孙": 0.05,
}  # fmt: skip

# Characters of given names, most common first (frequency falls off with rank).
GIVEN: Final = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰玉萍红华建国文辉斌宇鹏飞鑫波浩俊峰晨阳亮海"
    "林琳丹婷雪梅莉燕晶颖慧志坤凯龙云成新宏春晓小佳欣怡子涵轩博文泽宇浩然梓萱雨诗思彤悦可馨嘉琪"
    "一鸣凡瑞祥福寿永康安宁德胜利民生荣贵金银宝山水清河江湖月星光天地东南西北中正义礼智信仁忠孝"
    "婉柔淑贤美玲珊珍琴瑶璐曼倩蓉菲薇蕾露霖媛妍娇翠凤鹤鸿鹏燕雁松柏竹梨杏桃桐楠森彬彪虎豹熊鹰"
    "冬青秋夏雪霜露霞彩虹雷电风雨晴朗旭昊晗昕暄曦晟昌盛兴旺发达远航帆舟桥路通达顺利振兴家园"
)  # fmt: skip

COUNTIES: Final = (
    "370102", "370103", "370104", "370105", "370112", "370113", "370114", "370115", "370116", "370117",
    "370124", "370126", "370181", "370202", "370203", "370211", "370212", "370213", "370214", "370215",
    "370281", "370283", "370302", "370303", "370304", "370305", "370306", "370321", "370322", "370323",
    "370602", "370611", "370612", "370613", "370614", "370681", "370682", "370683", "370684", "370685",
)  # fmt: skip
MOBILE_PREFIXES: Final = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "176", "177", "180", "181", "182", "183", "185", "186",
    "187", "188", "189", "191", "198", "199",
)  # fmt: skip
FULL_WIDTH: Final = str.maketrans("0123456789", "０１２３４５６７８９")


class Generator:
    """People, households and their records in three sources, from one seeded stream."""

    def __init__(self, seed: int) -> None:
        import opencc
        from pypinyin import lazy_pinyin

        self.rng = random.Random(seed)
        self.surnames = list(SURNAMES)
        self.surname_weights = list(accumulate_weights(SURNAMES.values()))
        # Zipf-like given-name character frequencies: common names collide, as in life.
        self.given = list(dict.fromkeys(GIVEN))
        self.given_weights = list(accumulate_weights(1.0 / (rank + 8) for rank in range(len(self.given))))
        # s2t only makes noise here; linkage itself converts t2s only (DOMAIN.md §4).
        self.s2t = opencc.OpenCC("s2t")
        by_sound: dict[str, list[str]] = defaultdict(list)
        for ch in [*self.given, *(s for s in self.surnames if len(s) == 1)]:
            by_sound[lazy_pinyin(ch)[0]].append(ch)
        self.homophones = {ch: [o for o in group if o != ch] for group in by_sound.values() for ch in group}
        self.homophones = {ch: alts for ch, alts in self.homophones.items() if alts}
        self.taken_ids: set[str] = set()
        self.taken_phones: set[str] = set()
        self.epoch = dt.date(1940, 1, 1).toordinal()
        self.span = dt.date(2015, 12, 31).toordinal() - self.epoch

    # -- people

    def _surname(self) -> str:
        return self.rng.choices(self.surnames, cum_weights=self.surname_weights)[0]

    def _given(self) -> str:
        k = 1 if self.rng.random() < 0.3 else 2
        return "".join(self.rng.choices(self.given, cum_weights=self.given_weights, k=k))

    def _id(self, county: str, birth: dt.date, sex: str) -> str:
        from jingwu.core.identifiers import make_resident_id

        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
            number = make_resident_id(county, birth, seq)
            if number not in self.taken_ids:
                self.taken_ids.add(number)
                return number

    def _phone(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.taken_phones:
                self.taken_phones.add(number)
                return number

    def _person(self, surname: str, county: str, birth: dt.date | None = None) -> dict[str, Any]:
        sex = "M" if self.rng.random() < 0.51 else "F"
        birth = birth or dt.date.fromordinal(self.epoch + self.rng.randrange(self.span))
        age = 2026 - birth.year
        lines = 0
        if age >= 12:
            r = self.rng.random()
            lines = 0 if r < 0.08 else 1 if r < 0.85 else 2
        return {
            "name": surname + self._given(), "sex": sex, "birth": birth, "county": county,
            "id": self._id(county, birth, sex), "phones": [self._phone() for _ in range(lines)],
        }  # fmt: skip

    def households(self, people: int) -> Iterable[list[dict[str, Any]]]:
        made = 0
        while made < people:
            county = self.rng.choice(COUNTIES)
            surname = self._surname()
            size = self.rng.choices((1, 2, 3, 4, 5), weights=(25, 30, 25, 15, 5))[0]
            members = [self._person(surname if i != 1 else self._surname(), county) for i in range(size)]
            if self.rng.random() < 0.01:
                # Twins: same surname, birth date, county and household phone; given names
                # often share a character (一鸣 / 一凡).
                first = members[0]
                twin = self._person(surname, county, birth=first["birth"])
                if self.rng.random() < 0.5 and len(first["name"]) == len(surname) + 2:
                    twin["name"] = first["name"][:-1] + self.rng.choice(self.given)
                if twin["name"] != first["name"]:
                    members.append(twin)
            address = f"{county}{self.rng.randrange(1, 30):03d}"
            for m in members:
                m["division"] = address
            made += len(members)
            yield members

    # -- noise

    def noisy_name(self, name: str) -> str:
        r = self.rng.random()
        if r < 0.02:
            return str(self.s2t.convert(name))
        if r < 0.03:
            i = self.rng.randrange(len(name))
            alts = self.homophones.get(name[i])
            return name[:i] + self.rng.choice(alts) + name[i + 1 :] if alts else name
        if r < 0.04:
            i = self.rng.randrange(1, len(name)) if len(name) > 1 else 0
            return name[:i] + self.rng.choice(self.given) + name[i + 1 :]
        if r < 0.05:
            i = self.rng.randrange(1, len(name)) if len(name) > 1 else 1
            return name[:i] + " " + name[i:]
        return name

    def noisy_id(self, person: dict[str, Any], missing: float) -> str | None:
        r = self.rng.random()
        number: str = person["id"]
        if r < missing:
            return None
        r -= missing
        if r < 0.01:
            # The legacy 15-digit form, which only people born in the 1900s were issued.
            return number[:6] + number[8:17] if person["birth"].year < 2000 else number
        if r < 0.015:
            return number[:17] + ("0" if number[17] != "0" else "1")  # mistyped check character
        return number

    def noisy_phone(self, national: str) -> str:
        r = self.rng.random()
        if r < 0.7:
            return national
        a, b, c = national[:3], national[3:7], national[7:]
        return self.rng.choice(
            (f"+86 {a} {b} {c}", f"0086-{national}", f"{a}-{b}-{c}", f"{a} {b} {c}", national.translate(FULL_WIDTH),
             f"86{national}")
        )  # fmt: skip

    def noisy_date(self, birth: dt.date) -> str:
        text = birth.isoformat()
        if self.rng.random() < 0.003:
            i = self.rng.choice((2, 3, 6, 9))
            text = text[:i] + str(self.rng.randrange(10)) + text[i + 1 :]
        return self.rng.choice((text, text.replace("-", ""), text.replace("-", "/")))

    # -- records

    def records(self, target: int) -> tuple[list[dict[str, Any]], list[int]]:
        """About ``target`` records, with the person number of each."""
        rows: list[dict[str, Any]] = []
        truth: list[int] = []
        counters = Counter[str]()
        person_no = 0
        # Records per person ≈ 0.92 + 0.92 + 0.55: aim the people count at the target.
        for household in self.households(int(target / 2.35)):
            household_phone = next((p["phones"][0] for p in household if p["phones"]), None)
            for person in household:
                for row in self._person_records(person, household_phone):
                    counters[row["source"]] += 1
                    row["unique_id"] = f"{row['source']}:{counters[row['source']]:08d}"
                    rows.append(row)
                    truth.append(person_no)
                person_no += 1
            if len(rows) >= target:
                break
        return rows[:target], truth[:target]

    def _person_records(self, p: dict[str, Any], household_phone: str | None) -> Iterable[dict[str, Any]]:
        rng = self.rng
        sex_label = "男" if p["sex"] == "M" else "女"
        if rng.random() < 0.92:
            yield {
                "source": "hukou", "name": p["name"], "id_number": p["id"], "birth_date": p["birth"].isoformat(),
                "sex": sex_label, "phone": p["phones"][0] if p["phones"] else household_phone,
                "division_code": p["division"],
            }  # fmt: skip
        for national in p["phones"]:
            number = self.noisy_id(p, missing=0.10)
            yield {
                "source": "telecom", "name": self.noisy_name(p["name"]), "id_number": number,
                "birth_date": self.noisy_date(p["birth"]) if number is None and rng.random() < 0.7 else None,
                "sex": sex_label if rng.random() < 0.5 else None, "phone": self.noisy_phone(national),
                "division_code": p["county"] if rng.random() < 0.5 else None,
            }  # fmt: skip
        stays = 0 if rng.random() < 0.7 else rng.choice((1, 1, 2, 2, 3, 4))
        for _ in range(stays):
            number = self.noisy_id(p, missing=0.10)
            phone = p["phones"][0] if p["phones"] and rng.random() < 0.6 else None
            yield {
                "source": "hotel", "name": self.noisy_name(p["name"]), "id_number": number,
                "birth_date": self.noisy_date(p["birth"]) if number is None and rng.random() < 0.5 else None,
                "sex": sex_label, "phone": self.noisy_phone(phone) if phone else None, "division_code": None,
            }  # fmt: skip


def accumulate_weights(weights: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


COLUMNS: Final = (
    "unique_id", "source", "name", "id_number", "birth_date", "sex", "phone", "address", "division_code",
)  # fmt: skip


# jingwu.synthetic's sources that describe a person, and where their fields are.
SYNTHETIC_FIELDS: Final[dict[str, dict[str, str]]] = {
    "hukou": {"name": "name", "id_number": "id_number", "birth_date": "birth_date", "sex": "sex", "phone": "phone",
              "address": "address", "division_code": "division_code"},
    "telecom": {"name": "subscriber_name", "id_number": "subscriber_id_number", "birth_date": "birth_date",
                "phone": "phone"},
    "hotel": {"name": "name", "id_number": "id_number", "birth_date": "birth_date", "phone": "phone"},
    "bank": {"name": "holder_name", "id_number": "holder_id_number", "phone": "phone"},
    "vehicle": {"name": "owner_name", "id_number": "owner_id_number", "phone": "owner_phone"},
}  # fmt: skip


def synthetic_records(records: int, seed: int, sources: list[str]) -> tuple[list[dict[str, Any]], list[int]]:
    """Records from the synthetic province (jingwu.synthetic, no database needed)."""
    from jingwu.synthetic.people import PeopleGenerator, Registry
    from jingwu.synthetic.province import province_layout

    layout = province_layout(16)
    registry, people = Registry(seed, 16, layout), PeopleGenerator(seed, 16, layout)
    rows: list[dict[str, Any]] = []
    truth: list[int] = []
    counters = Counter[str]()
    block = 0
    while len(rows) < records:
        for person in people.block(block, registry.block(block)):
            for draft in person.records:
                fields = SYNTHETIC_FIELDS.get(draft.source)
                if fields is None or draft.source not in sources:
                    continue
                counters[draft.source] += 1
                row = {ours: draft.payload.get(theirs) for ours, theirs in fields.items()}
                row |= {"unique_id": f"{draft.source}:{counters[draft.source]:08d}", "source": draft.source}
                rows.append(row)
                truth.append(person.number)
        block += 1
    return rows[:records], truth[:records]


def generate(path: Path, records: int, seed: int, data: str = "builtin", sources: str = "") -> dict[str, Any]:
    started = time.perf_counter()
    if data == "synthetic":
        rows, truth = synthetic_records(records, seed, sources.split(","))
    else:
        rows, truth = Generator(seed).records(records)
    table = pa.table(
        {c: pa.array([r.get(c) for r in rows], type=pa.string()) for c in COLUMNS}
        | {"person": pa.array(truth, type=pa.int64())}
    )
    pq.write_table(table, path)
    by_source = Counter(r["source"] for r in rows)
    return {"records": len(rows), "people": len(set(truth)), "by_source": dict(by_source),
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


# --------------------------------------------------------------------------- methods (child side)


def _quiet_splink() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)


def run_ours(table: pa.Table, args: argparse.Namespace, engine: str = "duckdb") -> tuple[pa.Table, dict[str, Any]]:
    from jingwu.records.linkage import LinkageConfig, link

    config = LinkageConfig(training=args.training, threads=args.threads, memory_limit=args.memory_limit,
                           engine=engine)  # type: ignore[arg-type]
    result = link(table, config=config)
    clusters = pa.table({"unique_id": list(result.clusters), "cluster_id": list(result.clusters.values())})
    return clusters, result.stats


def run_spark(table: pa.Table, args: argparse.Namespace) -> tuple[pa.Table, dict[str, Any]]:
    """Ours on the Spark engine; Spark's start-up (JVM, session) is in the time."""
    logging.getLogger("py4j").setLevel(logging.ERROR)
    return run_ours(table, args, engine="spark")


def run_incremental(table: pa.Table, args: argparse.Namespace) -> tuple[pa.Table, dict[str, Any]]:
    """Link all but the last tenth, save the model, then link the last tenth as a new batch.

    Only the new batch is timed (the caller's clock is reset through ``stats``)."""
    from jingwu.records.linkage import LinkageConfig, LinkageModel, link, link_incremental

    config = LinkageConfig(training=args.training, threads=args.threads, memory_limit=args.memory_limit)
    # A random tenth, so that the batch holds records of people already known.
    order = random.Random(args.seed).sample(range(table.num_rows), table.num_rows)
    cut = table.num_rows - table.num_rows // 10
    old = table.take(pa.array(sorted(order[:cut])))
    new = table.take(pa.array(sorted(order[cut:])))
    t0 = time.perf_counter()
    first = link(old, config=config)
    with tempfile.TemporaryDirectory() as tmp:
        first.model.save(Path(tmp) / "model.json")
        model = LinkageModel.load(Path(tmp) / "model.json")
    initial = time.perf_counter() - t0
    # What a store keeps: the prepared records of the first run with their entity.
    assert first.records is not None
    prepared = first.records
    existing = prepared.append_column(
        "cluster_id", pa.array([first.clusters[u] for u in prepared.column("unique_id").to_pylist()])
    )
    del first, prepared
    t1 = time.perf_counter()
    result = link_incremental(existing, new, model=model, config=config)
    stats = dict(result.stats, initial_link_seconds=round(initial, 3), batch_records=new.num_rows)
    stats["timed_seconds"] = time.perf_counter() - t1
    clusters = pa.table({"unique_id": list(result.clusters), "cluster_id": list(result.clusters.values())})
    return clusters, stats


def run_splink(table: pa.Table, args: argparse.Namespace) -> tuple[pa.Table, dict[str, Any]]:
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from jingwu.records.linkage import prepare

    stats: dict[str, Any] = {}
    t0 = time.perf_counter()
    # The same validated IDs, phones and dates as ours; only the name is raw.
    prepared = prepare(table).select(["unique_id", "id18", "birth_date", "sex", "phone_e164", "division_code"])
    prepared = prepared.append_column("name", table.column("name"))
    stats["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ExactMatch("id18"),
            cl.NameComparison("name"),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("phone_e164"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("division_code"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id18"),
            block_on("phone_e164"),
            block_on("name", "birth_date"),
            block_on("substr(name, 1, 1)", "birth_date"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    config: dict[str, Any] = {}
    if args.threads:
        config["threads"] = args.threads
    if args.memory_limit:
        config["memory_limit"] = args.memory_limit
    con = duckdb.connect(":memory:", config=config)
    api = DuckDBAPI(connection=con)
    linker = Linker(api.register(prepared, table_name="records"), settings, log_level=None)
    t1 = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match([block_on("id18")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=20170101)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id18"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone_e164"))
    stats["train_seconds"] = round(time.perf_counter() - t1, 3)
    t2 = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.5, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.95)
    out = con.sql(f"SELECT unique_id, cluster_id FROM {clusters.physical_name}").to_arrow_table()
    stats["predict_cluster_seconds"] = round(time.perf_counter() - t2, 3)
    con.close()
    return out, stats


def run_exact_id(table: pa.Table, args: argparse.Namespace) -> tuple[pa.Table, dict[str, Any]]:
    from jingwu.core.identifiers import validate_resident_id

    cache: dict[str, str | None] = {}
    cluster_ids: list[str] = []
    for uid, raw in zip(table.column("unique_id").to_pylist(), table.column("id_number").to_pylist(), strict=True):
        if raw is None:
            cluster_ids.append(uid)
            continue
        if raw not in cache:
            r = validate_resident_id(raw)
            cache[raw] = r.normalized if r.valid else None
        cluster_ids.append(cache[raw] or uid)
    return pa.table({"unique_id": table.column("unique_id"), "cluster_id": pa.array(cluster_ids)}), {}


RUNNERS: Final[dict[str, Callable[[pa.Table, argparse.Namespace], tuple[pa.Table, dict[str, Any]]]]] = {
    "ours": run_ours,
    "spark": run_spark,
    "incremental": run_incremental,
    "splink": run_splink,
    "exact_id": run_exact_id,
}


def child(args: argparse.Namespace) -> None:
    _quiet_splink()
    table = pq.read_table(args.input).drop_columns(["person"])
    loaded_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    clusters, stats = RUNNERS[args.child](table, args)
    wall = stats.pop("timed_seconds", None) or time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pq.write_table(clusters.select(["unique_id", "cluster_id"]), args.output)
    print(json.dumps({"wall": wall, "peak_kb": peak_kb, "loaded_kb": loaded_kb, "stats": stats}, default=str))


# --------------------------------------------------------------------------- scoring (parent side)


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def _prf(correct: int, predicted: int, true_pairs: int) -> tuple[float, float, float]:
    precision = correct / predicted if predicted else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score(truth: list[int], uids: list[str], has_id: list[bool], clusters_path: Path) -> dict[str, float]:
    got = pq.read_table(clusters_path)
    cluster_of = dict(zip(got.column("unique_id").to_pylist(), got.column("cluster_id").to_pylist(), strict=True))
    # Pair counts over all records and over the records with a valid ID; the difference is
    # the pairs with at least one record without one.
    counts = {}
    for subset in ("all", "id"):
        cells: Counter[tuple[str, int]] = Counter()
        sizes: Counter[str] = Counter()
        people: Counter[int] = Counter()
        for uid, person, with_id in zip(uids, truth, has_id, strict=True):
            if subset == "id" and not with_id:
                continue
            c = cluster_of[uid]
            cells[(c, person)] += 1
            sizes[c] += 1
            people[person] += 1
        counts[subset] = (
            sum(pairs(n) for n in cells.values()),
            sum(pairs(n) for n in sizes.values()),
            sum(pairs(n) for n in people.values()),
        )
        if subset == "all":
            clusters = len(sizes)
    precision, recall, f1 = _prf(*counts["all"])
    no_id = tuple(a - b for a, b in zip(counts["all"], counts["id"], strict=True))
    p2, r2, f2 = _prf(*no_id)
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": counts["all"][2],
            "predicted_pairs": counts["all"][1], "correct_pairs": counts["all"][0], "clusters": clusters,
            "no_id_precision": p2, "no_id_recall": r2, "no_id_f1": f2, "no_id_true_pairs": no_id[2]}  # fmt: skip


def valid_ids(raw_ids: list[str | None]) -> list[bool]:
    from jingwu.core.identifiers import validate_resident_id

    cache: dict[str, bool] = {}
    out = []
    for raw in raw_ids:
        if raw is None:
            out.append(False)
            continue
        if raw not in cache:
            cache[raw] = validate_resident_id(raw).valid
        out.append(cache[raw])
    return out


def run_child(method: str, data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    cmd = [sys.executable, __file__, "--child", method, "--input", str(data), "--output", str(out),
           "--training", args.training, "--seed", str(args.seed)]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JINGWU_VAR_DIR": os.environ.get("JINGWU_VAR_DIR", "/tmp")})  # fmt: skip
    sampled = [0]

    def sample() -> None:
        try:
            p = psutil.Process(proc.pid)
            while proc.poll() is None:
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                sampled[0] = max(sampled[0], rss)
                time.sleep(0.05)
        except psutil.Error:
            pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{stderr[-4000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["psutil_peak_bytes"] = sampled[0]
    return result


def machine() -> str:
    import psutil

    mem = psutil.virtual_memory().total / 2**30
    return f"{platform.node()}: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {mem:.1f} GiB RAM, " \
           f"Python {platform.python_version()}"  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--data", choices=("builtin", "synthetic"), default="builtin",
        help="builtin: this file's noisier generator; synthetic: jingwu.synthetic's province",
    )  # fmt: skip
    parser.add_argument("--sources", default="hukou,telecom,hotel", help="with --data synthetic: which sources")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--training", choices=("em", "fixed"), default="em", help="our model: EM or fixed priors")
    parser.add_argument("--threads", type=int, default=None,
                        help="DuckDB threads / Spark local[N] cores (default: all cores)")
    parser.add_argument("--memory-limit", default=None,
                        help='DuckDB memory limit / Spark driver memory, e.g. "6GB" (Spark default 4g)')
    parser.add_argument("--workdir", type=Path, default=None, help="keep generated data and clusters here")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-linkage-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        tag = "" if args.data == "builtin" else f"-synthetic-{args.sources.replace(',', '+')}"
        data = work / f"records-{args.records}-seed{args.seed}{tag}.parquet"
        print(f"machine: {machine()}")
        if data.exists():
            print(f"data: {data} (reused)")
        else:
            info = generate(data, args.records, args.seed, args.data, args.sources)
            print(f"data: {info['records']:,} records of {info['people']:,} people {info['by_source']} "
                  f"generated in {info['seconds']} s")  # fmt: skip
        table = pq.read_table(data, columns=["unique_id", "person", "id_number"])
        uids, truth = table.column("unique_id").to_pylist(), table.column("person").to_pylist()
        has_id = valid_ids(table.column("id_number").to_pylist())
        del table

        rows = []
        for method in methods:
            out = work / f"clusters-{method}.parquet"
            result = run_child(method, data, out, args)
            quality = score(truth, uids, has_id, out)
            peak = max(result["peak_kb"] * 1024, result["psutil_peak_bytes"])
            rows.append((method, quality, result["wall"], peak, result["stats"]))
            print(f"  {method}: F1 {quality['f1']:.4f} in {result['wall']:.1f} s, peak {peak / 2**30:.2f} GiB; "
                  f"stats {json.dumps(result['stats'], default=str)}", flush=True)  # fmt: skip

    print()
    ref = next((r for r in rows if r[0] == "ours"), rows[0])
    header = (f"{'method':<12} {'precision':>9} {'recall':>8} {'F1':>8} {'F1 no-ID':>9} {'wall s':>8} "
              f"{'peak GiB':>9} {'time ×ours':>10} {'mem ×ours':>9} {'clusters':>10}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for method, q, wall, peak, _ in rows:
        print(f"{method:<12} {q['precision']:>9.4f} {q['recall']:>8.4f} {q['f1']:>8.4f} {q['no_id_f1']:>9.4f} "
              f"{wall:>8.1f} {peak / 2**30:>9.2f} {wall / ref[2]:>10.2f} {peak / ref[3]:>9.2f} "
              f"{q['clusters']:>10,}")  # fmt: skip
    no_id_pairs = rows[0][1]["no_id_true_pairs"] if rows else 0
    print(f"\ntrue pairs {rows[0][1]['true_pairs']:,}, of which {no_id_pairs:,} involve a record without a valid ID"
          if rows else "")  # fmt: skip
    print(f"records {args.records:,} ({args.data} data), seed {args.seed}, training {args.training}; "
          "targets: F1 >= 0.98, <= 300 s, <= 8 GiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
