"""Near-duplicate grouping equals a brute-force search, and stays fast when hashes share whole bands."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.duplicates import random_hashes
from yolocls.data.duplicates import group_duplicates


def brute_force_groups(hashes: list[int], threshold: int) -> list[list[int]]:
    """Connected components of 'within threshold bits', by comparing every pair (independent of the index)."""
    n = len(hashes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if bin(hashes[i] ^ hashes[j]).count("1") <= threshold:
                parent[find(j)] = find(i)
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(find(i), []).append(i)
    return sorted((c for c in comps.values() if len(c) > 1), key=lambda c: c[0])


@pytest.mark.parametrize("zero_bits", [0, 160, 250])
@pytest.mark.parametrize("threshold", [1, 4, 9])
def test_grouping_equals_brute_force(zero_bits, threshold):
    hashes = random_hashes(700, seed=zero_bits + threshold, zero_bits=zero_bits)
    shas = [str(i) for i in range(len(hashes))]
    assert group_duplicates(shas, hashes, threshold) == brute_force_groups(hashes, threshold)


def test_hashes_sharing_bands_group_about_as_fast_as_random_ones():
    """Uniform backgrounds make thousands of hashes share whole bands; that once made grouping quadratic
    (20k such hashes: 20 s against 0.16 s for random ones). bench/duplicates.py measures 20k."""
    n = 8000
    shared, plain = random_hashes(n, 1, zero_bits=160), random_hashes(n, 2)
    shas = [str(i) for i in range(n)]

    def seconds(hashes: list[int]) -> float:
        start = time.perf_counter()
        group_duplicates(shas, hashes, 4)
        return time.perf_counter() - start

    ratios = []
    for _ in range(3):
        ratios.append(seconds(shared) / seconds(plain))
    assert float(np.median(ratios)) < 4, ratios
