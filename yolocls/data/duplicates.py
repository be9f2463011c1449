"""Leakage control: group exact (sha256) and near (dHash) duplicates so a group never straddles splits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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


def group_duplicates(sha256s: Sequence[str], dhashes: Sequence[int], threshold: int) -> list[list[int]]:
    """Indices grouped by identical bytes or dHash distance <= threshold (-1: exact only).

    Returns only groups with 2+ members, each sorted, in order of their first member.
    """
    if threshold > MAX_THRESHOLD:
        raise ValueError(f"near-duplicate threshold {threshold} > {MAX_THRESHOLD}")
    n = len(sha256s)
    uf = _UnionFind(n)
    by_sha: dict[str, int] = {}
    for i, sha in enumerate(sha256s):
        if sha in by_sha:
            uf.union(by_sha[sha], i)
        else:
            by_sha[sha] = i
    if threshold >= 0:
        _union_near(uf, dhashes, threshold)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[uf.find(i)].append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _words(h: int) -> list[int]:
    return [(h >> (64 * k)) & 0xFFFFFFFFFFFFFFFF for k in range(HASH_BITS // 64)]


def _band_ranges(threshold: int) -> list[tuple[int, int]]:
    """threshold+1 contiguous bit ranges: two hashes within `threshold` bits agree on at least one."""
    n = threshold + 1
    edges = [round(k * HASH_BITS / n) for k in range(n + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _union_near(uf: _UnionFind, dhashes: Sequence[int], threshold: int) -> None:
    """Union pairs within `threshold` bits, comparing only hashes that agree on a whole band."""
    first_of: dict[int, int] = {}
    for i, h in enumerate(dhashes):  # identical hashes: one representative each
        if h in first_of:
            uf.union(first_of[h], i)
        else:
            first_of[h] = i
    reps = list(first_of.values())
    if len(reps) < 2 or threshold == 0:
        return
    words = np.array([_words(dhashes[i]) for i in reps], dtype=np.uint64)
    for lo, hi in _band_ranges(threshold):
        mask = (1 << (hi - lo)) - 1
        buckets: dict[int, list[int]] = defaultdict(list)
        for pos, i in enumerate(reps):
            buckets[(dhashes[i] >> lo) & mask].append(pos)
        for members in buckets.values():
            if len(members) > 1:
                idx = np.array(members)
                _union_block(uf, reps, idx, words[idx], threshold)


def _union_block(uf: _UnionFind, reps: list[int], members: np.ndarray, sub: np.ndarray, threshold: int) -> None:
    """All pairs of one bucket, compared in row blocks (vectorised, bounded memory)."""
    size = len(members)
    block = 256
    for lo in range(0, size - 1, block):
        hi = min(lo + block, size)
        dist = np.bitwise_count(sub[lo:hi, None, :] ^ sub[None, lo:, :]).sum(axis=2)  # (hi-lo, size-lo)
        rows, cols = np.nonzero(dist <= threshold)
        keep = cols > rows  # upper triangle: each pair once, no self-pairs
        for r, c in zip(rows[keep], cols[keep]):
            uf.union(reps[members[lo + r]], reps[members[lo + c]])


def resolve_duplicates(items: list[SourceItem], scans: list[ScanResult], threshold: int,
                    skipped: list[SkippedFile]) -> tuple[list[list[int]], list[DuplicateGroup]]:
    """Groups of usable item indices (singletons included) + the duplicate report."""
    usable = [i for i, s in enumerate(scans) if s.ok]
    found = group_duplicates([scans[i].sha256 for i in usable], [scans[i].dhash for i in usable], threshold)
    in_group: set[int] = set()
    units: list[list[int]] = []
    report: list[DuplicateGroup] = []
    for local in found:
        members = sorted((usable[k] for k in local), key=lambda i: items[i].rel)
        in_group.update(members)
        labels = sorted({items[i].label for i in members})
        shas = {scans[i].sha256 for i in members}
        kind: Literal["exact", "near"] = "exact" if len(shas) == 1 else "near"
        files = [items[i].rel for i in members]
        if len(labels) > 1:
            for i in members:
                skipped.append(SkippedFile(path=items[i].rel, reason=f"{kind} duplicate with conflicting labels "
                                           f"({', '.join(labels)})"))
            report.append(DuplicateGroup(kind=kind, files=files, labels=labels,
                                         action="excluded: same image carries different labels"))
            continue
        keep: list[int] = []
        first_of_sha: dict[str, int] = {}
        for i in members:
            sha = scans[i].sha256
            if sha in first_of_sha:
                skipped.append(SkippedFile(path=items[i].rel,
                                           reason=f"exact duplicate of {items[first_of_sha[sha]].rel}"))
            else:
                first_of_sha[sha] = i
                keep.append(i)
        units.append(keep)
        action = "kept one copy" if len(keep) == 1 else "kept together in one split"
        report.append(DuplicateGroup(kind=kind, files=files, labels=labels, action=action))
    units.extend([i] for i in usable if i not in in_group)
    return units, report
