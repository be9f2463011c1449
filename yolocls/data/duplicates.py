"""Leakage control: group exact (sha256) and near (dHash) duplicates so a group never straddles splits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from yolocls.data.images import ScanResult
from yolocls.data.manifest import DuplicateGroup, SkippedFile
from yolocls.data.sources import SourceItem

HASH_BITS = 256
MAX_THRESHOLD = 15


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def tight_bits(threshold: int) -> int:
    """Distance under which two images are the same picture (re-encoded, resized): always kept together."""
    return threshold // 2


class NearGraph:
    """Images as atoms (one per distinct dHash: exact copies share it), the pairs of atoms within the threshold,
    and the same-picture components (atoms joined through pairs within `tight_bits`)."""

    def __init__(self, dhashes: Sequence[int], threshold: int) -> None:
        self.atom_of: list[int] = []
        self.members: list[list[int]] = []
        first: dict[int, int] = {}
        for i, h in enumerate(dhashes):
            if h not in first:
                first[h] = len(self.members)
                self.members.append([])
            self.atom_of.append(first[h])
            self.members[first[h]].append(i)
        self.hashes = [dhashes[m[0]] for m in self.members]
        self.near: list[set[int]] = [set() for _ in self.members]
        self.same = _UnionFind(len(self.members))
        self.tight = tight_bits(threshold)
        if threshold > 0 and len(self.members) > 1:
            words = np.array([_words(h) for h in self.hashes], dtype=np.uint64)
            bits = np.unpackbits(words.view(np.uint8), axis=1).astype(bool)  # (atoms, 256)
            _search(self._link, words, bits, np.arange(len(self.members)), np.arange(HASH_BITS), threshold)

    def _link(self, a: int, b: int) -> None:
        if a != b:
            self.near[a].add(b)
            self.near[b].add(a)
            if (self.hashes[a] ^ self.hashes[b]).bit_count() <= self.tight:
                self.same.union(a, b)

    def neighbours(self, i: int) -> list[int]:
        """Every other image within the threshold of image i (its exact and dHash copies included)."""
        atom = self.atom_of[i]
        return [j for a in (atom, *self.near[atom]) for j in self.members[a] if j != i]


def group_duplicates(sha256s: Sequence[str], dhashes: Sequence[int], threshold: int) -> list[list[int]]:
    """Indices grouped by identical bytes (-1: only those) or by dHash distance, without long chains: images
    within `tight_bits` of each other (the same picture re-encoded or resized) are always together; beyond
    that, the set with the most near images becomes a group's centre and takes the ungrouped sets with an
    image within the threshold of it; then the next. A run of different images a few bits apart each (78
    trousers) is no longer one group.

    Returns only groups with 2+ members, each sorted, in order of their first member.
    """
    if threshold > MAX_THRESHOLD:
        raise ValueError(f"near-duplicate threshold {threshold} > {MAX_THRESHOLD}")
    if threshold < 0:
        by_sha: dict[str, list[int]] = defaultdict(list)
        for i, sha in enumerate(sha256s):
            by_sha[sha].append(i)
        return sorted((g for g in by_sha.values() if len(g) > 1), key=lambda g: g[0])
    return leader_groups(NearGraph(dhashes, threshold))


def leader_groups(graph: NearGraph) -> list[list[int]]:
    """Centres by (most near images first, then lowest index), each taking its ungrouped near components."""
    comp_atoms: dict[int, list[int]] = defaultdict(list)
    for a in range(len(graph.members)):
        comp_atoms[graph.same.find(a)].append(a)
    size = {c: sum(len(graph.members[a]) for a in atoms) for c, atoms in comp_atoms.items()}
    adjacent = {c: {graph.same.find(b) for a in atoms for b in graph.near[a]} - {c} for c, atoms in comp_atoms.items()}
    first = {c: min(graph.members[a][0] for a in atoms) for c, atoms in comp_atoms.items()}
    degree = {c: size[c] - 1 + sum(size[d] for d in adjacent[c]) for c in comp_atoms}
    taken: set[int] = set()
    groups = []
    for c in sorted(comp_atoms, key=lambda c: (-degree[c], first[c])):
        if c in taken:
            continue
        comps = [c, *(d for d in adjacent[c] if d not in taken)]
        taken.update(comps)
        group = sorted(i for d in comps for a in comp_atoms[d] for i in graph.members[a])
        if len(group) > 1:
            groups.append(group)
    return sorted(groups, key=lambda g: g[0])


def _words(h: int) -> list[int]:
    return [(h >> (64 * k)) & 0xFFFFFFFFFFFFFFFF for k in range(HASH_BITS // 64)]


SMALL_BUCKET = 48  # below this many hashes a bucket is compared pair by pair


def _search(link: Callable[[int, int], None], words: np.ndarray, bits: np.ndarray, members: np.ndarray,
            free: np.ndarray, threshold: int) -> None:
    """`link` every pair of `members` within `threshold` bits, knowing they agree on all bits outside `free`.

    Multi-index hashing, recursively: bits on which all members agree are dropped (a uniform background or
    a black border makes whole bands identical, which once put thousands of images in one bucket and made
    the search quadratic); the varying bits are cut into threshold+1 bands, any close pair agrees on one
    whole band (pigeonhole), so each band's buckets are searched again on the remaining bits.
    """
    if len(members) < 2:
        return
    sub = bits[np.ix_(members, free)]
    varying = free[sub.any(axis=0) & ~sub.all(axis=0)]
    if len(varying) <= threshold:  # every pair differs in at most `threshold` bits (at most 2**threshold)
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                link(int(members[x]), int(members[y]))
        return
    if len(members) <= SMALL_BUCKET or len(varying) < 2 * (threshold + 1):
        _link_block(link, members, words[members], threshold)
        return
    bands = np.array_split(varying, threshold + 1)
    for k, band in enumerate(bands):
        keys = np.packbits(bits[np.ix_(members, band)], axis=1)
        _, bucket_of = np.unique(keys, axis=0, return_inverse=True)
        rest = np.concatenate([b for j, b in enumerate(bands) if j != k])
        order = np.argsort(bucket_of.ravel(), kind="stable")
        sorted_buckets = bucket_of.ravel()[order]
        starts = np.flatnonzero(np.r_[True, sorted_buckets[1:] != sorted_buckets[:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], len(order)]):
            if hi - lo > 1:
                _search(link, words, bits, members[order[lo:hi]], rest, threshold)


def _link_block(link: Callable[[int, int], None], members: np.ndarray, sub: np.ndarray, threshold: int) -> None:
    """All pairs of one bucket, compared in row blocks (vectorised, bounded memory)."""
    size = len(members)
    block = 256
    for lo in range(0, size - 1, block):
        hi = min(lo + block, size)
        dist = np.bitwise_count(sub[lo:hi, None, :] ^ sub[None, lo:, :]).sum(axis=2)  # (hi-lo, size-lo)
        rows, cols = np.nonzero(dist <= threshold)
        keep = cols > rows  # upper triangle: each pair once, no self-pairs
        for r, c in zip(rows[keep], cols[keep]):
            link(int(members[lo + r]), int(members[lo + c]))


def resolve_duplicates(items: list[SourceItem], scans: list[ScanResult], threshold: int,
                       skipped: list[SkippedFile], keep_conflicts: bool = False
                       ) -> tuple[list[list[int]], list[DuplicateGroup]]:
    """Groups of usable item indices (singletons included) + the duplicate report. An image whose exact or
    near copy carries another label is left out (only those images, not their whole group) unless
    `keep_conflicts`; exact copies with the same label are kept once; near ones stay together in one split."""
    usable = [i for i, s in enumerate(scans) if s.ok]
    shas, hashes = [scans[i].sha256 for i in usable], [scans[i].dhash for i in usable]
    graph = NearGraph(hashes, threshold) if threshold >= 0 else None
    found = leader_groups(graph) if graph is not None else group_duplicates(shas, hashes, -1)
    conflicted = {} if keep_conflicts else _conflicts(items, usable, shas, graph)
    in_group: set[int] = set()
    units: list[list[int]] = []
    report: list[DuplicateGroup] = []
    for local in found:
        members = sorted((usable[k] for k in local), key=lambda i: items[i].rel)
        in_group.update(members)
        kind: Literal["exact", "near"] = "exact" if len({scans[i].sha256 for i in members}) == 1 else "near"
        out = [i for i in members if i in conflicted]
        keep = _first_copies(items, scans, [i for i in members if i not in conflicted], skipped)
        if keep:
            units.append(keep)
        action = ("excluded: same image carries different labels" if not keep else
                  f"kept {len(keep)}, left out {len(out)} with conflicting labels" if out else
                  "kept one copy" if len(keep) == 1 else "kept together in one split")
        report.append(DuplicateGroup(kind=kind, files=[items[i].rel for i in members],
                                     labels=sorted({items[i].label for i in members}), action=action))
    units.extend([i] for i in usable if i not in in_group and i not in conflicted)
    for i in sorted(conflicted, key=lambda i: items[i].rel):
        kind = "exact" if any(scans[j].sha256 == scans[i].sha256 for j in conflicted if j != i) else "near"
        skipped.append(SkippedFile(path=items[i].rel, reason=f"{kind} duplicate with conflicting labels "
                                   f"({conflicted[i]}); keep such images with --keep-conflicts"))
    return units, report


def _conflicts(items: list[SourceItem], usable: list[int], shas: list[str], graph: NearGraph | None
               ) -> dict[int, str]:
    """item index -> the labels involved, for every image whose exact or near copy has another label."""
    if graph is None:
        by_sha: dict[str, list[int]] = defaultdict(list)
        for k, sha in enumerate(shas):
            by_sha[sha].append(k)
        near = {k: [j for j in by_sha[sha] if j != k] for k, sha in enumerate(shas)}
    else:
        near = {k: graph.neighbours(k) for k in range(len(usable))}
    out: dict[int, str] = {}
    for k, others in near.items():
        labels = {items[usable[j]].label for j in others} | {items[usable[k]].label}
        if len(labels) > 1:
            out[usable[k]] = ", ".join(sorted(labels))
    return out


def _first_copies(items: list[SourceItem], scans: list[ScanResult], members: list[int],
                  skipped: list[SkippedFile]) -> list[int]:
    """Members with exact copies kept once per label (the others skipped, naming the copy kept)."""
    keep: list[int] = []
    first_of: dict[tuple[str, str], int] = {}
    for i in members:
        key = (scans[i].sha256, items[i].label)
        if key in first_of:
            skipped.append(SkippedFile(path=items[i].rel, reason=f"exact duplicate of {items[first_of[key]].rel}"))
        else:
            first_of[key] = i
            keep.append(i)
    return keep
