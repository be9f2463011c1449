"""Leakage control: group exact (sha256) and near (dHash) duplicates so a group never straddles splits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

HASH_BITS = 256
BAND_BITS = 16
BANDS = HASH_BITS // BAND_BITS  # pairs within BANDS-1 bits share at least one band (pigeonhole)
MAX_THRESHOLD = BANDS - 1


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


def _union_near(uf: _UnionFind, dhashes: Sequence[int], threshold: int) -> None:
    """Union pairs within `threshold` bits, comparing only hashes that share a 16-bit band."""
    first_of: dict[int, int] = {}
    for i, h in enumerate(dhashes):  # identical hashes: one representative each
        if h in first_of:
            uf.union(first_of[h], i)
        else:
            first_of[h] = i
    reps = list(first_of)
    words = np.array([_words(h) for h in reps], dtype=np.uint64).reshape(len(reps), HASH_BITS // 64)
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    mask = (1 << BAND_BITS) - 1
    for pos, h in enumerate(reps):
        for band in range(BANDS):
            buckets[(band, (h >> (BAND_BITS * band)) & mask)].append(pos)
    for members in buckets.values():
        if len(members) < 2:
            continue
        idx = np.array(members)
        sub = words[idx]
        for k in range(len(idx) - 1):
            dist = np.bitwise_count(sub[k + 1:] ^ sub[k]).sum(axis=1)
            for j in np.nonzero(dist <= threshold)[0]:
                uf.union(first_of[reps[idx[k]]], first_of[reps[idx[k + 1 + j]]])
