"""Linking 串并案: reports and scored signals that share a payee account, phone, URL, app,
device or IP belong to one network. Incremental: each new report or signal joins the
networks of its identifiers as it is stored (union by size, in the same transaction).

Signals that scored nothing are not linked: a citizen calling an ordinary number says
nothing about fraud, and linking every call would make one network of the province."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from jingwu.antifraud.models import FraudReport, ReportIdentifier
from jingwu.antifraud.warning_models import LinkNode, Signal


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
        _join(node, sorted({f"{k}:{v}" for k, v in values}))


def link_signal(signal: Signal) -> None:
    if signal.score <= 0:
        return
    keys = {f"{signal.counterpart_kind}:{signal.counterpart}"}
    if signal.device:
        keys.add(f"device:{signal.device}")
    if signal.ip:
        keys.add(f"ip:{signal.ip}")
    with transaction.atomic():
        _join(_node(f"signal:{signal.pk}", signal=signal), sorted(keys))


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
