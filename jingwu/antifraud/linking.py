"""Linking 串并案: reports and scored signals that share a payee account, phone, URL, app,
device or IP belong to one network. Incremental: each new report or signal joins the
networks of its identifiers as it is stored (union by size, in the same transaction).

Signals that scored nothing are not linked: a citizen calling an ordinary number says
nothing about fraud, and linking every call would make one network of the province.
For the same reason the everyday platforms victims name as where the contact began
(微信, QQ …) are kept on the report but link nothing: every ring's victims use them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction

from jingwu.antifraud.models import FraudReport, ReportIdentifier
from jingwu.antifraud.warning_models import LinkNode, Signal

# Normalised as indicators.app writes them.
EVERYDAY_APPS = frozenset({"微信", "wechat", "weixin", "qq", "抖音", "douyin", "快手", "支付宝", "alipay", "淘宝",
                           "拼多多", "微博", "短信", "电话"})


def linking_keys(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """The node keys (kind:value) an item's identifiers link through, everyday apps left out."""
    return sorted({f"{k}:{v}" for k, v in pairs if not (k == "app" and v in EVERYDAY_APPS)})


def _node(key: str, **owner: Any) -> LinkNode:
    node, created = LinkNode.objects.get_or_create(key=key[:520], defaults=owner)
    if created:
        LinkNode.objects.filter(pk=node.pk).update(root=node.pk)
        node.root_id = node.pk
    return node


def _union(a: LinkNode, b: LinkNode) -> int:
    """Join two networks; returns the surviving root's id."""
    roots = {n.pk: n for n in LinkNode.objects.select_for_update().filter(pk__in={a.root_id, b.root_id})}
    first, second = roots[a.root_id], roots[b.root_id]  # type: ignore[index]
    if first.pk == second.pk:
        return first.pk
    big, small = (first, second) if (first.size, -first.pk) >= (second.size, -second.pk) else (second, first)
    LinkNode.objects.filter(root=small.pk).update(root=big.pk)
    LinkNode.objects.filter(pk=big.pk).update(size=big.size + small.size)
    return big.pk


def _join(owner: LinkNode, keys: Iterable[str]) -> None:
    for key in keys:
        other = _node(key)
        owner.root_id = _union(owner, other)


def link_report(report: FraudReport) -> None:
    with transaction.atomic():
        node = _node(f"report:{report.pk}", report=report)
        values = ReportIdentifier.objects.filter(report=report).values_list("kind", "value")
        _join(node, linking_keys(values))


def link_report_identifiers(report: FraudReport, pairs: Iterable[tuple[str, str]]) -> None:
    """Join a report already linked to identifiers learned later (an onward account a bank
    named while the money was chased): the networks behind them become one."""
    keys = linking_keys(pairs)
    if not keys:
        return
    with transaction.atomic():
        _join(_node(f"report:{report.pk}", report=report), keys)


def signal_keys(signal: Signal) -> list[str]:
    """The node keys a signal links through; none when it scored nothing or its counterpart
    is an everyday app (the one rule for link_signal and link_signals)."""
    if signal.score <= 0 or (signal.counterpart_kind == "app" and signal.counterpart in EVERYDAY_APPS):
        return []
    keys = {f"{signal.counterpart_kind}:{signal.counterpart}"[:520]}
    if signal.device:
        keys.add(f"device:{signal.device}")
    if signal.ip:
        keys.add(f"ip:{signal.ip}")
    return sorted(keys)


def link_signal(signal: Signal) -> None:
    keys = signal_keys(signal)
    if not keys:
        return
    with transaction.atomic():
        _join(_node(f"signal:{signal.pk}", signal=signal), keys)


def link_signals(signals: Sequence[Signal]) -> None:
    """link_signal for a whole batch (the early-warning hot path): the same networks, from a
    handful of statements per batch — nodes read and created in bulk, the unions done in
    memory over the roots, then one relabelling per surviving root."""
    edges: list[tuple[str, str]] = []
    owners: dict[str, Signal] = {}
    for signal in signals:
        keys = signal_keys(signal)
        if not keys:
            continue
        own = f"signal:{signal.pk}"
        owners[own] = signal
        edges += [(own, key) for key in keys]
    if not edges:
        return
    # No savepoint: the caller's batch transaction is all or nothing anyway. Raw statements:
    # on the decision path the ORM's query building cost more than the database's work.
    table, key_column = connection.ops.quote_name(LinkNode._meta.db_table), connection.ops.quote_name("key")
    with transaction.atomic(savepoint=False):
        wanted = set(owners) | {key for _own, key in edges}
        postgres = connection.vendor == "postgresql"
        size: dict[int, int] | None = None
        if postgres:
            # The nodes and their roots, locked, in one round trip; a root absorbed meanwhile
            # (its root_id no longer itself) sends us to _locked_roots, which follows it.
            found = _rows(f"SELECT n.{key_column}, n.root_id, r.root_id, r.size FROM {table} AS n "  # noqa: S608
                          f"JOIN {table} AS r ON r.id = n.root_id WHERE n.{key_column}", sorted(wanted),
                          " FOR UPDATE OF r")
            root_of: dict[str, int] = {key: root for key, root, _r, _s in found}
            if all(root == again for _k, root, again, _s in found):
                size = {root: n for _k, root, _r, n in found}
        else:
            root_of = dict(_rows(f"SELECT {key_column}, root_id FROM {table} WHERE {key_column}",  # noqa: S608
                                 sorted(wanted)))
        new = sorted(wanted - set(root_of))
        if new:
            with connection.cursor() as cursor:
                if postgres:  # each new node its own root, in the INSERT itself
                    sequence = f"pg_get_serial_sequence('{LinkNode._meta.db_table}', 'id')"
                    cursor.execute(f"INSERT INTO {table} (id, {key_column}, size, signal_id, root_id) "  # noqa: S608
                                   f"SELECT x.n, x.k, 1, x.s, x.n FROM (SELECT nextval({sequence}) AS n, u.k, u.s "
                                   "FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS u(k, s, o) "
                                   f"ORDER BY u.o) AS x RETURNING id, {key_column}",
                                   [new, [owners[k].pk if k in owners else None for k in new]])
                    created = {key: pk for pk, key in cursor.fetchall()}
                else:
                    cursor.execute(f"INSERT INTO {table} ({key_column}, size, signal_id) VALUES "  # noqa: S608
                                   f"{', '.join(['(%s, 1, %s)'] * len(new))} RETURNING id, {key_column}",
                                   [v for k in new for v in (k, owners[k].pk if k in owners else None)])
                    created = {key: pk for pk, key in cursor.fetchall()}
            if not postgres:
                _rows(f"UPDATE {table} SET root_id = id WHERE id", list(created.values()))  # noqa: S608
            root_of.update(created)
            if size is not None:
                size.update({pk: 1 for pk in created.values()})
        if size is None:
            size = _locked_roots(root_of)
        parent = {r: r for r in size}

        def find(r: int) -> int:
            while parent[r] != r:
                parent[r] = parent[parent[r]]
                r = parent[r]
            return r

        for own, key in edges:
            a, b = find(root_of[own]), find(root_of[key])
            if a != b:
                big, small = (a, b) if (size[a], -a) >= (size[b], -b) else (b, a)
                parent[small] = big
                size[big] += size[small]
        absorbed: dict[int, list[int]] = {}
        for r in parent:
            if find(r) != r:
                absorbed.setdefault(find(r), []).append(r)
        if absorbed and postgres:  # the relabelling and the sizes in one statement
            with connection.cursor() as cursor:
                pairs = [(big, small) for big, smaller in absorbed.items() for small in smaller]
                cursor.execute(f"WITH moved AS (UPDATE {table} AS t SET root_id = v.big "  # noqa: S608
                               "FROM unnest(%s::bigint[], %s::bigint[]) AS v(big, small) WHERE t.root_id = v.small) "
                               f"UPDATE {table} AS t SET size = v.size FROM unnest(%s::bigint[], %s::bigint[]) "
                               "AS v(id, size) WHERE t.id = v.id",
                               [[b for b, _s in pairs], [s for _b, s in pairs], list(absorbed),
                                [size[big] for big in absorbed]])
        elif absorbed:  # one prepared statement each, run for every joined network (no ORM per network)
            with connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {table} SET root_id = %s WHERE root_id = %s",  # noqa: S608
                                   [(big, small) for big, smaller in absorbed.items() for small in smaller])
                cursor.executemany(f"UPDATE {table} SET size = %s WHERE id = %s",  # noqa: S608
                                   [(size[big], big) for big in absorbed])


def _locked_roots(root_of: dict[str, int]) -> dict[int, int]:
    """Lock the roots and return their sizes; a root another process absorbed meanwhile is
    followed to its new root (root_of is corrected in place)."""
    table = connection.ops.quote_name(LinkNode._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    while True:
        rows = {pk: (root, size) for pk, root, size in _rows(f"SELECT id, root_id, size FROM {table} WHERE id",  # noqa: S608
                                                             sorted(set(root_of.values())), lock)}
        moved = {pk: root for pk, (root, _size) in rows.items() if root != pk}
        if not moved:
            return {pk: size for pk, (_root, size) in rows.items()}
        for key, root in root_of.items():
            root_of[key] = moved.get(root, root)


def _rows(sql: str, values: list[Any], tail: str = "") -> list[tuple[Any, ...]]:
    """`sql` ends with the column `values` are looked up in."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{sql} = ANY(%s){tail}", [values])
        else:
            cursor.execute(f"{sql} IN ({', '.join(['%s'] * len(values))}){tail}", values)
        return cursor.fetchall() if cursor.description else []


def link_unlinked_reports() -> int:
    """Link reports stored before linking existed (or by a path that skipped it)."""
    linked = LinkNode.objects.filter(report__isnull=False).values("report_id")
    count = 0
    for report in FraudReport.objects.exclude(pk__in=linked).order_by("pk").iterator():
        link_report(report)
        count += 1
    return count


def network_root(report: FraudReport) -> int | None:
    node = LinkNode.objects.filter(report=report).only("root_id").first()
    return node.root_id if node else None


def network_members(root_id: int) -> list[LinkNode]:
    return list(LinkNode.objects.filter(root_id=root_id).order_by("pk"))


def networks(min_reports: int = 2) -> list[dict[str, Any]]:
    """Networks with at least `min_reports` reports, largest first: [{root, reports, size}]."""
    from django.db.models import Count

    rows = (LinkNode.objects.filter(report__isnull=False).values("root_id").annotate(reports=Count("id"))
            .filter(reports__gte=min_reports).order_by("-reports", "root_id"))
    sizes = dict(LinkNode.objects.filter(pk__in=[r["root_id"] for r in rows]).values_list("pk", "size"))
    return [{"root": r["root_id"], "reports": r["reports"], "size": sizes.get(r["root_id"], 0)} for r in rows]


# --- reads for the network pages (scoped: FRAUD_ANALYSE over a report's unit) ----------------

def _visible_reports(actor: Any) -> Any:
    from jingwu.core import access
    from jingwu.core.access import Action

    return access.scope(actor, Action.FRAUD_ANALYSE, FraudReport.objects.all())


def networks_visible(actor: Any, min_reports: int = 2) -> list[dict[str, Any]]:
    """Networks holding at least one report the actor may analyse, with their visible reports' count."""
    visible = set(_visible_reports(actor).values_list("pk", flat=True))
    if not visible:
        return []
    shown = set(LinkNode.objects.filter(report_id__in=visible).values_list("root_id", flat=True))
    return [n for n in networks(min_reports) if n["root"] in shown]


def network_graph(actor: Any, root_id: int) -> dict[str, Any] | None:
    """Nodes, edges and the actor's visible reports of one network; None when none is visible.
    Reports outside the jurisdiction appear as anonymous nodes (their existence is the lead)."""
    members = network_members(root_id)
    report_ids = [m.report_id for m in members if m.report_id]
    visible = {r.pk: r for r in _visible_reports(actor).filter(pk__in=report_ids).select_related("unit")}
    if not visible:
        return None
    keys = {m.key for m in members}
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    for m in members:
        kind = m.key.split(":", 1)[0]
        if m.report_id:
            shown = visible.get(m.report_id)
            nodes.append({"id": m.key, "kind": "report", "label": shown.number if shown else "—"})
        elif m.signal_id:
            nodes.append({"id": m.key, "kind": "signal", "label": f"#{m.signal_id}"})
        else:
            nodes.append({"id": m.key, "kind": kind, "label": m.key.split(":", 1)[1]})
    for rid, kind, value in ReportIdentifier.objects.filter(report_id__in=report_ids).values_list(
            "report_id", "kind", "value"):
        if f"{kind}:{value}" in keys:
            edges.append({"source": f"report:{rid}", "target": f"{kind}:{value}"})
    signal_ids = [m.signal_id for m in members if m.signal_id]
    for s in Signal.objects.filter(pk__in=signal_ids):
        for target in (f"{s.counterpart_kind}:{s.counterpart}", f"device:{s.device}" if s.device else "",
                       f"ip:{s.ip}" if s.ip else ""):
            if target in keys:
                edges.append({"source": f"signal:{s.pk}", "target": target})
    return {"root": root_id, "nodes": nodes, "edges": edges,
            "reports": sorted(visible.values(), key=lambda r: r.created_at, reverse=True),
            "hidden_reports": len(report_ids) - len(visible)}
