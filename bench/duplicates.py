"""Near-duplicate grouping: 20k hashes that share whole bands (uniform backgrounds) vs 20k random ones.

Baseline in the same run: the same number of random hashes. Before the recursive multi-index search,
hashes sharing a band landed in one bucket and were compared pair by pair (quadratic).

    .venv/bin/python bench/duplicates.py [--n 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from yolocls.data.duplicates import group_duplicates


def random_hashes(n: int, seed: int, zero_bits: int = 0) -> list[int]:
    """n 256-bit hashes; the top `zero_bits` bits are 0 in all of them (a shared uniform region), and
    every 50th hash is planted as a near copy (1-3 bits flipped) of another."""
    rng = random.Random(seed)
    keep = (1 << (256 - zero_bits)) - 1
    out = [rng.getrandbits(256) & keep for _ in range(n)]
    for i in range(0, n, 50):
        j = rng.randrange(n)
        flipped = out[j]
        for _ in range(rng.randint(1, 3)):
            flipped ^= 1 << rng.randrange(256 - zero_bits)
        out[i] = flipped
    return out


def timed(hashes: list[int], threshold: int) -> tuple[float, int]:
    shas = [str(i) for i in range(len(hashes))]  # all distinct bytes: only dHash matters
    start = time.perf_counter()
    groups = group_duplicates(shas, hashes, threshold)
    return time.perf_counter() - start, len(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", type=int, default=4)
    args = parser.parse_args()
    shared, plain = random_hashes(args.n, 1, zero_bits=160), random_hashes(args.n, 2)
    times: dict[str, list[float]] = {"random": [], "shared bands": []}
    for _ in range(args.repeat):  # alternate, so drift on a noisy machine hits both sides
        for name, hashes in (("random", plain), ("shared bands", shared)):
            seconds, groups = timed(hashes, args.threshold)
            times[name].append(seconds)
    for name, values in times.items():
        print(f"{name:13s} n={args.n}: median {statistics.median(values):.3f} s  (runs: "
              f"{', '.join(f'{v:.3f}' for v in values)})")
    ratio = statistics.median(times["shared bands"]) / statistics.median(times["random"])
    print(f"ratio shared/random: {ratio:.2f}")


if __name__ == "__main__":
    main()
