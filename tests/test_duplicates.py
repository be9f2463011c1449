"""Near-duplicate grouping equals a brute-force search, and stays fast when hashes share whole bands."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.duplicates import random_hashes
from yolocls.data.duplicates import group_duplicates


def bits(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def brute_force_groups(hashes: list[int], threshold: int) -> list[list[int]]:
    """The grouping by its definition, comparing every pair (written independently of the search): images
    within threshold // 2 bits are the same picture, joined transitively; the set with the most images within
    `threshold` (then the lowest index) is a centre and takes every ungrouped set with an image within
    `threshold` of one of its own; repeat."""
    n, tight = len(hashes), threshold // 2
    comp = list(range(n))

    def find(i: int) -> int:
        while comp[i] != i:
            i = comp[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if bits(hashes[i], hashes[j]) <= tight and find(i) != find(j):
                comp[max(find(i), find(j))] = min(find(i), find(j))
    sets: dict[int, list[int]] = {}
    for i in range(n):
        sets.setdefault(find(i), []).append(i)
    near = {c: {find(j) for i in m for j in range(n) if find(j) != c and bits(hashes[i], hashes[j]) <= threshold}
            for c, m in sets.items()}
    degree = {c: len(m) - 1 + sum(len(sets[d]) for d in near[c]) for c, m in sets.items()}
    taken: set[int] = set()
    groups = []
    for c in sorted(sets, key=lambda c: (-degree[c], sets[c][0])):
        if c in taken:
            continue
        mine = [c] + [d for d in near[c] if d not in taken]
        taken.update(mine)
        group = sorted(i for d in mine for i in sets[d])
        if len(group) > 1:
            groups.append(group)
    return sorted(groups, key=lambda g: g[0])


def chain(length: int, step_bits: int, seed: int) -> list[int]:
    """Hashes each `step_bits` away from the previous one (new bits each time): near-to-near, far apart ends."""
    rng = np.random.default_rng(seed)
    h = int(rng.integers(0, 2**62)) << 150
    out = [h]
    for k in range(length - 1):
        for b in range(step_bits):
            h ^= 1 << ((k * step_bits + b) % 140)
        out.append(h)
    return out


@pytest.mark.parametrize("zero_bits", [0, 160, 250])
@pytest.mark.parametrize("threshold", [1, 4, 9])
def test_grouping_equals_brute_force(zero_bits, threshold):
    hashes = random_hashes(300, seed=zero_bits + threshold, zero_bits=zero_bits)
    shas = [str(i) for i in range(len(hashes))]
    assert group_duplicates(shas, hashes, threshold) == brute_force_groups(hashes, threshold)


@pytest.mark.parametrize("length, step", [(30, 3), (80, 3), (12, 4)])
def test_chains_of_near_images_are_not_one_group(length, step):
    """78 different trousers a few bits apart each were once one group: now groups equal the definition above,
    none spans the chain, and the copies of one photo (1-2 bits apart) are always together."""
    photo = 0b1011 << 200
    hashes = chain(length, step, seed=length) + [photo, photo ^ 1, photo ^ 0b11]
    shas = [str(i) for i in range(len(hashes))]
    groups = group_duplicates(shas, hashes, 4)
    assert groups == brute_force_groups(hashes, 4)
    assert max(len(g) for g in groups) <= 3 < length  # a centre and its two neighbours at most
    assert [length, length + 1, length + 2] in groups


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
