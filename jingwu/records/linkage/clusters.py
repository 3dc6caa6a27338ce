"""From scored pairs to entities: constrained connected components and analyst judgements.

Plain connected components over "probability ≥ accept" edges lets one wrong edge chain
two people together, and would silently undo an analyst's rejection as soon as a third
record bridges the pair.  So the union-find here refuses a merge that would put into one
cluster

- both records of a pair an analyst rejected (a cannot-link constraint), or
- two different validated ID numbers (a person has one), unless an analyst confirmed it.

Edges are taken strongest first, so when records compete (a twin's ID-less record
scores against both twins) the better-supported merge wins and the weaker one is
blocked and sent to review instead of chaining the twins.

Order of evidence: existing clusters (incremental runs; only an analyst splits them),
then confirmed judgements, then model edges by descending probability.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "VERDICTS",
    "BlockedEdge",
    "Components",
    "Judgement",
    "Verdict",
    "constrained_components",
    "pair_key",
    "split_judgements",
]

Verdict = Literal["confirmed", "rejected", "unsure"]
VERDICTS: Final[tuple[Verdict, ...]] = ("confirmed", "rejected", "unsure")
BlockReason = Literal["rejected", "different_id"]


def pair_key(a: str, b: str) -> tuple[str, str]:
    """A pair in canonical order, so (a, b) and (b, a) are one pair."""
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True, slots=True)
class Judgement:
    """An analyst's verdict on whether two source records are the same person."""

    uid_a: str
    uid_b: str
    verdict: Verdict

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.uid_a == self.uid_b:
            raise ValueError(f"a judgement needs two different records, got {self.uid_a!r} twice")

    @property
    def key(self) -> tuple[str, str]:
        return pair_key(self.uid_a, self.uid_b)


def split_judgements(parts: Sequence[Iterable[str]]) -> list[Judgement]:
    """The judgements that make an analyst's split of an entity permanent: every record
    of one part rejected against every record of each other part.

    Entities are small (tens of records), so the pairs stay few; storing pairs rather
    than a "split" object keeps one constraint type for the linker to enforce."""
    groups = [sorted(set(p)) for p in parts]
    seen: set[str] = set()
    for group in groups:
        if seen.intersection(group):
            raise ValueError("a record may appear in only one part of a split")
        seen.update(group)
    out: list[Judgement] = []
    for i, left in enumerate(groups):
        for right in groups[i + 1 :]:
            out.extend(Judgement(*pair_key(a, b), "rejected") for a in left for b in right)
    return out


@dataclass(frozen=True, slots=True)
class BlockedEdge:
    """A strong edge the constraints refused; it goes to the review queue."""

    uid_a: str
    uid_b: str
    probability: float
    reason: BlockReason


@dataclass(slots=True)
class Components:
    cluster_of: dict[str, str]
    blocked: list[BlockedEdge] = field(default_factory=list)
    # Confirmed judgements that contradict rejected ones and could not be applied.
    conflicting_confirmations: list[tuple[str, str]] = field(default_factory=list)
    # Existing-cluster members detached because an analyst rejected them (incremental).
    detached: list[str] = field(default_factory=list)
    links_applied: int = 0


class _UnionFind:
    def __init__(self, n: int, id_of: Sequence[str | None]) -> None:
        self.parent = list(range(n))
        self.size = [1] * n
        # Per root: the component's validated ID number; components an analyst confirmed
        # across several ID numbers keep them all in ``multi`` instead.
        self.id: list[str | None] = list(id_of)
        self.multi: dict[int, frozenset[str]] = {}
        # Per root: nodes that must never join it (rejected partners of its members).
        self.cannot: dict[int, list[int]] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def ids(self, root: int) -> frozenset[str]:
        several = self.multi.get(root)
        if several is not None:
            return several
        one = self.id[root]
        return frozenset((one,)) if one else frozenset()

    def forbid(self, a: int, b: int) -> None:
        self.cannot.setdefault(a, []).append(b)
        self.cannot.setdefault(b, []).append(a)

    def check(self, ra: int, rb: int, *, ignore_ids: bool) -> BlockReason | None:
        ca, cb = self.cannot.get(ra), self.cannot.get(rb)
        if ca and cb:
            # Each rejected pair sits in both members' lists: scanning one side is enough.
            scan, other = (ca, rb) if len(ca) <= len(cb) else (cb, ra)
            if any(self.find(p) == other for p in scan):
                return "rejected"
        if ignore_ids:
            return None
        if self.multi and (ra in self.multi or rb in self.multi):
            sa, sb = self.ids(ra), self.ids(rb)
            if sa and sb and not (sa <= sb or sb <= sa):
                return "different_id"
        else:
            ia, ib = self.id[ra], self.id[rb]
            if ia and ib and ia != ib:
                return "different_id"
        return None

    def union(self, a: int, b: int, *, ignore_ids: bool = False) -> BlockReason | Literal["same"] | None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return "same"
        reason = self.check(ra, rb, ignore_ids=ignore_ids)
        if reason is not None:
            return reason
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        ia, ib = self.id[ra], self.id[rb]
        if (self.multi and (ra in self.multi or rb in self.multi)) or (ia and ib and ia != ib):
            merged = self.ids(ra) | self.ids(rb)
            self.multi.pop(rb, None)
            self.multi[ra] = merged
        elif ib:
            self.id[ra] = ib
        cannot_b = self.cannot.pop(rb, None)
        if cannot_b:
            self.cannot.setdefault(ra, []).extend(cannot_b)
        return None


def constrained_components(
    uids: Sequence[str],
    edges: Iterable[tuple[str, str, float]],
    *,
    accept: float,
    id_of: Mapping[str, str | None] | None = None,
    judgements: Iterable[Judgement] = (),
    seeds: Mapping[str, str] | None = None,
) -> Components:
    """Cluster ``uids``.  ``edges`` are (uid, uid, probability) after the ID rules; only
    those with probability ≥ ``accept`` link.  ``seeds`` maps records of an earlier run to
    their cluster id: those clusters are kept (and may grow or merge).

    Cluster ids are deterministic: the smallest seed cluster id among a cluster's members,
    else its smallest unique_id."""
    index = {u: i for i, u in enumerate(uids)}
    if len(index) != len(uids):
        raise ValueError("unique_id values must be unique")
    ids = [id_of.get(u) if id_of else None for u in uids]
    uf = _UnionFind(len(uids), ids)
    out = Components(cluster_of={})

    confirmed: list[tuple[int, int]] = []
    for j in judgements:
        a, b = index.get(j.uid_a), index.get(j.uid_b)
        if a is None or b is None:
            continue  # a judgement about records not in this run
        if j.verdict == "rejected":
            uf.forbid(a, b)
        elif j.verdict == "confirmed":
            confirmed.append((min(a, b), max(a, b)))

    # Each existing cluster is anchored at its smallest member; the component holding the
    # anchor keeps the cluster's id, so a detached member never shares it.
    anchors: dict[int, str] = {}
    if seeds:
        by_seed: dict[str, list[int]] = defaultdict(list)
        for u, cluster in seeds.items():
            i = index.get(u)
            if i is not None:
                by_seed[cluster].append(i)
        for cluster in sorted(by_seed):
            members = sorted(by_seed[cluster], key=uids.__getitem__)
            anchors[members[0]] = cluster
            for m in members[1:]:
                # Existing clusters stay whole whatever their IDs say (an analyst may have
                # confirmed them); only a rejection, which is an analyst's split, detaches.
                if uf.union(members[0], m, ignore_ids=True) == "rejected":
                    out.detached.append(uids[m])

    for a, b in sorted(confirmed):
        if uf.union(a, b, ignore_ids=True) == "rejected":
            out.conflicting_confirmations.append((uids[a], uids[b]))

    strong = sorted((-p, *pair_key(u, v)) for u, v, p in edges if p >= accept and u != v)
    for neg_p, u, v in strong:
        iu, iv = index.get(u), index.get(v)
        if iu is None or iv is None:
            raise ValueError(f"edge ({u!r}, {v!r}) names a record that is not in uids")
        result = uf.union(iu, iv)
        if result is None:
            out.links_applied += 1
        elif result != "same":
            out.blocked.append(BlockedEdge(u, v, -neg_p, result))

    best: dict[int, str] = {}
    for i, u in enumerate(uids):
        root = uf.find(i)
        seed = anchors.get(i)
        # Seed cluster ids outrank unique_ids so an existing entity keeps its id.
        candidate = "0" + seed if seed is not None else "1" + u
        current = best.get(root)
        if current is None or candidate < current:
            best[root] = candidate
    out.cluster_of = {u: best[uf.find(i)][1:] for i, u in enumerate(uids)}
    return out
