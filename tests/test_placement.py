"""What a job reserves on a cluster and, when Ray has not placed it, the reason in words."""

from __future__ import annotations

from yolocls.studio.jobs import Resources
from yolocls.studio.placement import training_cpus, waiting_reason


def test_training_cpus_follow_the_nodes_and_the_setting():
    cluster = Resources(nodes=[{"CPU": 8.0}, {"CPU": 64.0, "GPU": 4.0}])
    assert training_cpus(cluster, setting=0, cpu_slots=1, gpus=0) == 64  # one CPU job: the largest node
    assert training_cpus(cluster, setting=0, cpu_slots=4, gpus=0) == 16
    assert training_cpus(cluster, setting=0, cpu_slots=1, gpus=2) == 32  # 16 CPUs per GPU
    assert training_cpus(cluster, setting=6, cpu_slots=1, gpus=2) == 6
    embedded = Resources(nodes=[{"CPU": 4.0}])  # 2 cores + 2 logical CPUs for preparations and deployments
    assert training_cpus(embedded, setting=0, cpu_slots=1, gpus=0, spare=2) == 2
    assert training_cpus(Resources(), setting=0, cpu_slots=1, gpus=0) == 1


def test_waiting_reasons_name_what_is_missing():
    assert "no node is up" in waiting_reason({"CPU": 1}, Resources())
    gpu_gone = Resources(nodes=[{"CPU": 2.0}], free={"CPU": 2.0})
    assert waiting_reason({"CPU": 1, "GPU": 2}, gpu_gone) == (
        "waiting for a node with 1 CPU and 2 GPUs: no live node has that many (the largest has 2 CPUs and 0 GPUs); "
        "add one or ask for less")
    busy = Resources(nodes=[{"CPU": 2.0}], free={"CPU": 0.0})
    assert waiting_reason({"CPU": 2}, busy) == "waiting for 2 CPUs to be free on one node (free now: 0 CPUs)"
