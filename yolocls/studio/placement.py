"""Where jobs go on the cluster: the CPUs a job reserves (and trains with), and, for a job Ray has not placed yet,
the reason in words (what it asks for against what the live nodes have)."""

from __future__ import annotations

from yolocls.studio.jobs import Resources


def training_cpus(resources: Resources, setting: int, cpu_slots: int, gpus: int, spare: int = 0) -> int:
    """CPUs a training job reserves, and so the torch threads it trains with. `setting` > 0 wins; otherwise a CPU
    job gets its share of the largest node (all of it with one CPU training slot) less `spare` (the embedded Ray's
    logical CPUs for preparations and deployments), a GPU job the node's CPUs per GPU times its GPUs."""
    if setting > 0:
        return setting
    largest = resources.largest("CPU")
    if gpus > 0:
        per_gpu = largest / max(resources.largest("GPU"), 1.0)
        return max(1, int(per_gpu * gpus))
    return max(1, int(largest - spare) // cpu_slots)


def _amount(asks: dict[str, int]) -> str:
    return " and ".join(f"{n} {name}{'s' if n != 1 else ''}" for name, n in asks.items())


def waiting_reason(asks: dict[str, int], resources: Resources) -> str:
    """Why Ray has not started a job that asks for `asks` (e.g. {"CPU": 2, "GPU": 1}) on one node."""
    need = _amount(asks)
    if not resources.nodes:
        return f"waiting for Ray to place it: it needs {need} on one node and no node is up"
    if not resources.placeable(asks.get("CPU", 0), asks.get("GPU", 0)):
        largest = _amount({"CPU": int(resources.largest("CPU")), "GPU": int(resources.largest("GPU"))})
        return (f"waiting for a node with {need}: no live node has that many (the largest has {largest}); add one "
                "or ask for less")
    free = _amount({k: int(v) for k, v in sorted(resources.free.items())}) or "nothing"
    return f"waiting for {need} to be free on one node (free now: {free})"
