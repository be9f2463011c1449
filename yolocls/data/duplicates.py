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


SMALL_BUCKET = 48  # below this many hashes a bucket is compared pair by pair


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
    bits = np.unpackbits(words.view(np.uint8), axis=1).astype(bool)  # (n, 256): one column per hash bit
    _search(uf, reps, words, bits, np.arange(len(reps)), np.arange(HASH_BITS), threshold)


def _search(uf: _UnionFind, reps: list[int], words: np.ndarray, bits: np.ndarray, members: np.ndarray,
            free: np.ndarray, threshold: int) -> None:
    """Union every pair of `members` within `threshold` bits, knowing they agree on all bits outside `free`.

    Multi-index hashing, recursively: bits on which all members agree are dropped (a uniform background or
    a black border makes whole bands identical, which once put thousands of images in one bucket and made
    the search quadratic); the varying bits are cut into threshold+1 bands, any close pair agrees on one
    whole band (pigeonhole), so each band's buckets are searched again on the remaining bits.
    """
    if len(members) < 2:
        return
    sub = bits[np.ix_(members, free)]
    varying = free[sub.any(axis=0) & ~sub.all(axis=0)]
    if len(varying) <= threshold:  # every pair differs in at most `threshold` bits: one group
        for m in members[1:]:
            uf.union(reps[members[0]], reps[m])
        return
    if len(members) <= SMALL_BUCKET or len(varying) < 2 * (threshold + 1):
        _union_block(uf, reps, members, words[members], threshold)
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
                _search(uf, reps, words, bits, members[order[lo:hi]], rest, threshold)


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
