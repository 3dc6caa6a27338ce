"""Benchmark: what one search through the selector layer spends, part by part, beside raw Tantivy.

    .venv/bin/python bench/search_parts.py --data var/bench-search/e1000000

On a province ``bench/search.py`` made (and indexed), as its actor ``bench_search``: for three
queries (an ID number, a name, a free-text word), the p50 of each part
``jingwu.search.selectors.search`` is made of — the raw Tantivy query (the floor), the access
check and scope, parsing, the purpose lookup, ``TantivyBackend.search``, the result rows and the
audit entry a search writes — then the whole search, with the statements it sends. Prints one
table: each part in ms and as a multiple of the raw query. The audit entries written here are
real ones, in the province's log.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from measure import machine, percentile  # noqa: E402  (bench/ is on sys.path)

QUERIES: Final = ("id", "name", "text")


def p50_ms(run: Callable[[], Any], repeat: int) -> float:
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the province's folder (as bench/search.py's)")
    parser.add_argument("--repeat", type=int, default=500, help="timed calls a part (500)")
    # Defaults: queries bench/search.py draws (query seed 4) on the 1M province.
    parser.add_argument("--id", default="370285195711148476", help="an ID number in the province")
    parser.add_argument("--name", default="陈亮龙", help="a name in the province")
    parser.add_argument("--text", default="户籍", help="a word of record text")
    args = parser.parse_args(argv)
    from search import _environment  # bench/search.py: the province's settings

    os.environ.update({k: v for k, v in _environment(args.data.resolve()).items()
                       if k.startswith(("JINGWU_", "DATABASE_URL", "DJANGO_"))})
    os.environ.pop("JINGWU_JOBS_IMMEDIATE", None)
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jingwu.core import access, audit
    from jingwu.core import selectors as core_selectors
    from jingwu.core.models import User
    from jingwu.search import query as query_parser
    from jingwu.search import selectors
    from jingwu.search.backend import SearchRequest, get_backend, match_query

    actor = User.objects.get(username="bench_search")  # made by bench/search.py, purpose set there
    backend = get_backend()
    searcher = backend._searcher()
    texts = {"id": args.id, "name": args.name, "text": args.text}
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'part, p50 ms (× raw)':<34}" + "".join(f"{q + ' ' + texts[q]:>28}" for q in QUERIES))
    rows: dict[str, list[float]] = {}
    statements: list[int] = []
    def parts_for(text: str) -> dict[str, Callable[[], Any]]:
        parsed = query_parser.parse(text)
        match = match_query(parsed, False)
        assert match is not None, f"{text!r} makes no query"
        request = SearchRequest(query=parsed, scope=selectors.scope_for(actor), limit=selectors.PAGE_SIZE)
        hits = backend.search(request).hits
        details = {"q": text, "kinds": [], "unit": "", "similar": False, "sort": "relevance", "date_from": None,
                   "date_to": None, "page": 1, "total": len(hits), "results": [f"{h.doc_type}:{h.id}" for h in hits]}

        def raw() -> list[Any]:
            return [searcher.doc(a) for _s, a in searcher.search(match, selectors.PAGE_SIZE, count=True).hits]

        def checked() -> Any:
            access.check(actor, access.Action.SEARCH_QUERY)
            return selectors.scope_for(actor)

        def audited() -> Any:
            return audit.record(actor=actor, action="search.query", object_type="search",
                                purpose="检索性能基准测试", details=details)

        return {
            "raw Tantivy (top 20, count, docs)": raw,
            "access check + scope": checked,
            "parse the query": lambda: query_parser.parse(text),
            "purpose lookup": lambda: core_selectors.current_purpose(actor),
            "TantivyBackend.search": lambda: backend.search(request),
            "result rows (units, links, masks)": lambda: selectors._results(actor, parsed, hits),
            "audit entry": audited,
            "selectors.search (all of it)": lambda: selectors.search(actor, text),
        }

    for q in QUERIES:
        for name, run in parts_for(texts[q]).items():
            rows.setdefault(name, []).append(p50_ms(run, args.repeat))
        with CaptureQueriesContext(connection) as captured:
            selectors.search(actor, texts[q])
        statements.append(len(captured.captured_queries))
    raw = rows["raw Tantivy (top 20, count, docs)"]
    for name, values in rows.items():
        print(f"{name:<34}" + "".join(f"{f'{v:.3f} ({v / r:.1f}×)':>28}" for v, r in zip(values, raw, strict=True)))
    print(f"{'statements a search':<34}" + "".join(f"{n:>28}" for n in statements))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
