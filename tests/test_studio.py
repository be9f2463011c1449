"""`yolocls studio` for real: a studio process on a free port, local Ray, real uploads and jobs; the whole module
runs twice, on a SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import CLASSES, Studio, dataset_zip, png_bytes

pytestmark = pytest.mark.slow








@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def studio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    env = {}
    if request.param == "postgresql":
        env["YOLOCLS_DATABASE_URL"] = request.getfixturevalue("postgres").database("studio")
    s = Studio(tmp_path_factory.mktemp("studio") / "home", env=env).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ready(studio: Studio) -> str:
    return studio.ready_dataset("colours")


def test_zip_upload_is_prepared_with_every_check(studio, ready):
    ds = studio.api("GET", f"/datasets/{ready}").json()
    assert ds["name"] == "colours" and ds["classes"] == sorted(CLASSES) and ds["images"] == 60
    assert set(ds["counts"]) == {"train", "val", "test"}
    assert sum(ds["counts"]["val"].values()) == 12
    val_img = next((studio.home / "datasets" / "colours" / "val" / "red").iterdir())
    thumb = studio.api("GET", f"/datasets/{ready}/files/val/red/{val_img.name}", params={"size": 16})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert studio.api("GET", f"/datasets/{ready}/files/val/red/..%2F..%2Fmanifest.json").status_code == 404
    assert studio.api("GET", f"/datasets/{ready}/files/val/red/nope.png").status_code == 404
    job = next(j for j in studio.api("GET", "/jobs").json() if j["kind"] == "prepare" and j["dataset"] == ready)
    stream = studio.api("GET", f"/jobs/{job['id']}/events").text  # ends after the final status
    progress = [json.loads(block.split("data: ", 1)[1]) for block in stream.split("\n\n")
                if "event: progress" in block]
    # the preparation's progress, live (sampled: the studio reads it every poll), checking before writing
    stages = [p["stage"] for p in progress]
    assert stages == sorted(stages) and all(0 < p["done"] <= p["total"] == 60 for p in progress)
    assert progress[-1] == {"stage": "writing", "done": 60, "total": 60}


def test_folder_upload_with_labels_csv(studio):
    files = [("files", (f"mix/{k:03d}-{CLASSES[k % 3]}.png", png_bytes(k % 3, 100 + k), "image/png"))
             for k in range(36)]
    labels = "filename,label\n" + "".join(f"{k:03d}-{CLASSES[k % 3]}.png,{CLASSES[k % 3]}\n" for k in range(36))
    files.append(("labels", ("labels.csv", labels.encode(), "text/csv")))
    res = studio.api("POST", "/datasets", files=files, data={"split": "0.6,0.2,0.2"})
    assert res.status_code == 202, res.text
    assert res.json()["dataset"]["name"] == "mix"  # the uploaded folder's name
    ds = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
    assert ds["status"] == "ready" and ds["images"] == 36 and ds["classes"] == sorted(CLASSES), ds.get("error")


def test_a_folder_holding_its_labels_csv_as_a_zip_or_as_files(studio):
    """The labels file travels inside the folder: `zip -r x.zip x`, or a browser folder upload where the CSV
    is one of the folder's files. Both are prepared with the CSV's classes."""
    labels = "filename,label\n" + "".join(f"{k:03d}.png,{CLASSES[k % 3]}\n" for k in range(30))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k in range(30):
            zf.writestr(f"x/{k:03d}.png", png_bytes(k % 3, 300 + k))
        zf.writestr("x/labels.csv", labels)
    folder = [("files", (f"y/{k:03d}.png", png_bytes(k % 3, 300 + k), "image/png")) for k in range(30)]
    folder.append(("files", ("y/labels.csv", labels.encode(), "text/csv")))
    for res in (studio.upload_zip(buf.getvalue(), name="zipped-with-csv"),
                studio.api("POST", "/datasets", files=folder, data={"name": "folder-with-csv"})):
        assert res.status_code == 202, res.text
        ds = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
        assert ds["status"] == "ready" and ds["classes"] == sorted(CLASSES) and ds["images"] == 30, ds


def test_a_taken_name_is_refused_before_the_files_arrive(studio, ready):
    name = studio.api("GET", f"/datasets/{ready}").json()["name"]
    before = sorted(p.name for p in (studio.home / ".studio" / "uploads").iterdir())

    def body():  # the name field first, then a file that would take long to send
        yield (b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n" + name.encode() + b"\r\n"
               b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.zip\"\r\n\r\n")
        for _ in range(6):
            yield b"x" * 1_000_000

    res = httpx.post(f"{studio.url}/api/v1/datasets", content=body(), timeout=60,
                     headers={**studio.headers, "Content-Type": "multipart/form-data; boundary=b"})
    assert res.status_code == 409 and f"'{name}' exists" in res.json()["detail"]
    assert sorted(p.name for p in (studio.home / ".studio" / "uploads").iterdir()) == before


def test_conflicting_copies_are_listed_or_kept_on_request(studio):
    """The same image under two classes: left out and listed with the reason, or kept with keep_conflicts."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for ci, name in enumerate(CLASSES):
            for k in range(10):
                zf.writestr(f"c/{name}/{k:03d}.png", png_bytes(ci, 500 + k))
        zf.writestr("c/blue/stolen.png", png_bytes(0, 500))  # red/000.png filed under blue too
    ids = {}
    for keep in ("false", "true"):
        res = studio.upload_zip(buf.getvalue(), name=f"conflicts-{keep}", keep_conflicts=keep)
        assert res.status_code == 202, res.text
        ids[keep] = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
    left_out = {s["path"]: s["reason"] for s in ids["false"]["skipped"]}
    assert ids["false"]["images"] == 29 and "conflicting labels (blue, red)" in left_out["blue/stolen.png"]
    assert ids["true"]["images"] == 31 and ids["true"]["skipped"] == []
    bad = studio.upload_zip(buf.getvalue(), name="conflicts-bad", keep_conflicts="maybe")
    assert bad.status_code == 422 and "keep_conflicts" in bad.json()["detail"]


def test_a_failed_preparation_is_reported(studio):
    res = studio.upload_zip(dataset_zip(("only",), per_class=10), name="oneclass")
    assert res.status_code == 202
    ds = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
    assert ds["status"] == "failed" and "only one class" in ds["error"]
    job = studio.api("GET", f"/jobs/{res.json()['job']['id']}").json()
    assert job["status"] == "failed" and "only one class" in studio.api("GET", f"/jobs/{job['id']}/log").text


@pytest.mark.parametrize("kwargs, status, detail", [
    ({"data": {"name": "x"}}, 422, "'file' archive or 'files' parts"),
    ({"files": {"file": ("a.rar", b"xx", "application/octet-stream")}}, 422, "not an archive"),
    ({"files": {"files": ("../evil.png", b"xx", "image/png")}}, 422, "escapes"),
    ({"files": [("files", ("d/a.png", b"xx", "image/png")), ("files", ("d/./a.png", b"yy", "image/png"))]}, 422,
     "'d/./a.png' was sent twice"),
    ({"files": [("files", ("d/a.png", b"xx", "image/png")), ("file", ("d.zip", b"PK", "application/zip"))]}, 422,
     "not both"),
    ({"files": {"file": ("d.zip", b"x" * 9_000_000, "application/zip")}}, 413, "exceeds"),
    ({"files": {"file": ("d.zip", b"PK", "application/zip")}, "data": {"split": "0.5,nan,0.5"}}, 422, "split"),
    ({"files": {"file": ("d.zip", b"PK", "application/zip")}, "data": {"name": "../x"}}, 422, "name"),
])
def test_bad_uploads_get_4xx_naming_the_problem(studio, kwargs, status, detail):
    before = sorted(p.name for p in (studio.home / ".studio" / "uploads").iterdir())
    res = studio.api("POST", "/datasets", **kwargs)
    assert res.status_code == status, res.text
    assert detail in res.json()["detail"] and "Traceback" not in res.text
    assert sorted(p.name for p in (studio.home / ".studio" / "uploads").iterdir()) == before  # nothing left


def test_bad_job_requests_get_4xx_naming_the_field(studio, ready):
    cases = [({"dataset": ready, "preset": "huge"}, 422, "preset: unknown 'huge'; valid presets: small-fast"),
             ({"dataset": ready, "aug": "wild"}, 422, "aug: unknown 'wild'"),
             ({"dataset": ready, "set": {"lr00": 1}}, 422, "set: lr00: unknown training argument"),
             ({"dataset": ready, "set": {"pretrained": "/tmp/x.pt"}}, 422, "set: pretrained: unknown training"),
             ({"dataset": ready, "set": {"cfg": "x.yaml"}}, 422, "set: cfg: unknown training argument"),
             ({"dataset": ready, "set": {"distill_model": "x.pt"}}, 422, "set: distill_model: unknown"),
             ({"dataset": ready, "set": {"imgsz": 100000}}, 422, "set: imgsz=100000: Input should be less"),
             ({"dataset": ready, "set": {"lr0": "0.1"}}, 422, "set: lr0='0.1': Input should be a valid number"),
             ({"dataset": ready, "set": {"data": "/etc"}}, 422, "set: data"),
             ({"dataset": ready, "device": "gpu-please"}, 422, "device"),
             ({"dataset": "nope"}, 404, "dataset 'nope' not found")]
    for body, status, detail in cases:
        res = studio.api("POST", "/jobs", json=body)
        assert res.status_code == status and detail in res.json()["detail"], (body, res.text)
    res = studio.api("POST", "/jobs", json={"dataset": ready, "epochs": 0})
    assert res.status_code == 422 and "epochs" in json.dumps(res.json()["detail"])
    assert studio.api("GET", "/jobs/nope").status_code == 404


def test_the_api_accepts_what_the_cli_accepts(studio, ready):
    """One check of training options for both: `cuda:0` is a device for the API as for `--device`, and an
    epochs value in `set` is the number of epochs planned (it wins over the preset's, as in `yolocls train`)."""
    res = studio.api("POST", "/jobs", json={"dataset": ready, "device": "cuda:0", "set": {"epochs": 3}})
    assert res.status_code == 202, res.text
    assert res.json()["epochs"] == 3
    job = studio.wait(f"/jobs/{res.json()['id']}", lambda j: j["status"] not in ("queued", "running"))
    if job["status"] == "failed":  # no GPU here: refused when the job starts, as `yolocls train` would
        assert "not available" in job["error"], job


def _events(studio: Studio, job: str, last_id: str | None = None, pings: list[str] | None = None
            ) -> list[tuple[int, str, dict]]:
    headers = {**studio.headers, **({"Last-Event-ID": last_id} if last_id else {})}
    out = []
    with httpx.stream("GET", f"{studio.url}/api/v1/jobs/{job}/events", headers=headers, timeout=600) as res:
        assert res.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in res.iter_lines():
            if line.startswith(":"):
                if pings is not None:
                    pings.append(line)  # a keep-alive comment
                continue
            if line:
                key, _, value = line.partition(": ")
                block[key] = value
            elif block:
                out.append((int(block["id"]), block["event"], json.loads(block["data"])))
                block = {}
    return out


def test_training_job_streams_its_epochs_live_and_completes(studio, ready):
    job = studio.train(ready, epochs=3)
    assert job["status"] == "queued" and job["run"]
    pings: list[str] = []
    events = _events(studio, job["id"], pings=pings)
    assert pings and all(p == ": ping" for p in pings)  # keep-alives while nothing happens (YOLOCLS_SSE_PING_S)
    ids = [e[0] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    kinds = [(k, d.get("status") or d.get("epoch")) for _, k, d in events if k != "progress"]
    assert kinds == [("status", "queued"), ("status", "running"), ("epoch", 1), ("epoch", 2), ("epoch", 3),
                     ("status", "completed")]
    within = [d for _, k, d in events if k == "progress"]  # batches within an epoch, every few seconds
    assert within and all(1 <= d["batch"] <= d["batches"] and d["epochs"] == 3 for d in within)
    assert any(d["batch"] == d["batches"] for d in within)  # an epoch's last batch is always written
    epoch = next(d for _, k, d in events if k == "epoch")
    for key in ("train_loss", "val_loss", "top1", "top5", "precision", "recall", "f1", "avg_confidence", "lr",
                "seconds"):
        assert epoch[key] is not None, key
    again = _events(studio, job["id"], last_id=str(events[3][0]))  # reconnect: exactly what was missed
    assert [e[0] for e in again] == ids[4:]
    detail = studio.api("GET", f"/jobs/{job['id']}").json()
    assert detail["status"] == "completed" and detail["epoch"] == detail["epochs"] == 3
    run = studio.api("GET", f"/runs/{job['run']}").json()
    assert run["record"]["status"] == "completed" and len(run["epochs"]) == 3
    assert "report/confusion_matrix.csv" in run["files"] and run["report"]["split"] == "test"
    matrix = studio.api("GET", f"/runs/{job['run']}/files/report/confusion_matrix.csv")
    assert matrix.status_code == 200 and matrix.text.startswith("true\\predicted")
    assert studio.api("GET", f"/runs/{job['run']}/files/weights/best.pt").status_code == 404  # no pickles
    assert studio.api("GET", f"/runs/{job['run']}/files/..%2F..%2Fstudio.db").status_code == 404
    preview = studio.api("GET", f"/runs/{job['run']}/preview", params={"epoch": 2}).json()
    assert preview["epoch"] == 2 and preview["epochs"] == [1, 2, 3]
    assert len(preview["predictions"]["pred"]) == len(preview["images"]) > 0
    assert job["run"] in [r["run"] for r in studio.api("GET", "/runs").json()]


def test_cancel_mid_run_then_resume_to_completion(studio, ready):
    job = studio.train(ready, epochs=6)
    studio.wait(f"/jobs/{job['id']}", lambda j: j["epoch"] >= 1)
    assert studio.api("POST", f"/jobs/{job['id']}/cancel").status_code == 200
    cancelled = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("running", "queued"))
    assert cancelled["status"] == "cancelled" and cancelled["epoch"] < 6
    record = json.loads((studio.home / "runs" / job["run"] / "run.json").read_text())
    assert record["status"] == "interrupted" and (studio.home / "runs" / job["run"] / "weights" / "last.pt").is_file()
    assert studio.api("POST", f"/jobs/{job['id']}/resume").status_code == 202
    done = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] in ("completed", "failed"))
    assert done["status"] == "completed" and done["epoch"] == 6, done
    assert json.loads((studio.home / "runs" / job["run"] / "run.json").read_text())["resumed"] == 1


def test_deploy_predict_and_a_new_version_while_requests_are_in_flight(studio, ready):
    run = next(r["run"] for r in studio.api("GET", "/runs").json() if r["status"] == "completed")
    v1 = studio.deploy(run, "colours")
    assert v1["version"] == 1 and v1["default"] and v1["parity"]["passed"]
    image = png_bytes(0, 3)
    first = studio.api("POST", "/models/colours/predict", files={"file": ("r.png", image, "image/png")})
    assert first.status_code == 200 and first.json()["model"]["name"] == "colours:v1"

    async def hammer(stop: asyncio.Event) -> list[int]:
        codes: list[int] = []
        async with httpx.AsyncClient(timeout=60) as client:
            while not stop.is_set():
                res = await client.post(f"{studio.url}/api/v1/models/colours/predict",
                                        files={"file": ("r.png", image, "image/png")})
                codes.append(res.status_code)
        return codes

    async def scenario() -> tuple[list[int], dict]:
        stop = asyncio.Event()
        clients = [asyncio.create_task(hammer(stop)) for _ in range(4)]
        async with httpx.AsyncClient(timeout=300) as client:
            job = (await client.post(f"{studio.url}/api/v1/runs/{run}/deploy", json={"model": "colours"})).json()
            while (v2 := (await client.get(f"{studio.url}/api/v1/jobs/{job['id']}")).json())["status"] in (
                    "queued", "running"):
                await asyncio.sleep(0.2)
            switched = await client.post(f"{studio.url}/api/v1/models/colours/default", params={"version": 2})
            assert switched.status_code == 200 and switched.json()["default_version"] == 2
        await asyncio.sleep(0.5)
        stop.set()
        return [c for codes in await asyncio.gather(*clients) for c in codes], v2

    codes, v2 = asyncio.run(scenario())
    assert v2["status"] == "completed" and v2["deployed"]["version"] == 2
    assert codes and set(codes) == {200}, f"{len(codes)} requests, statuses {set(codes)}"
    after = studio.api("POST", "/models/colours/predict", files={"file": ("r.png", image, "image/png")})
    assert after.json()["model"]["name"] == "colours:v2"
    old = studio.api("POST", "/models/colours/predict", params={"version": 1},
                     files={"file": ("r.png", image, "image/png")})
    assert old.json()["model"]["name"] == "colours:v1"
    bad = studio.api("POST", "/models/colours/predict", files={"file": ("x.txt", b"nope", "text/plain")})
    assert bad.status_code == 415 and "x.txt" in bad.json()["detail"]
    assert studio.api("POST", "/models/nope/predict", files={"file": ("r.png", image, "image/png")}).status_code == 404


def test_concurrent_deploys_of_one_run_each_register_their_own_file(studio, ready):
    import hashlib

    run = next(r["run"] for r in studio.api("GET", "/runs").json() if r["status"] == "completed")

    async def deploys() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=600, headers=studio.headers) as client:
            return list(await asyncio.gather(*[client.post(f"{studio.url}/api/v1/runs/{run}/deploy",
                                                           json={"model": "race"}) for _ in range(3)]))

    results = asyncio.run(deploys())
    assert [r.status_code for r in results] == [202] * 3, [r.text for r in results]
    jobs = [studio.wait(f"/jobs/{r.json()['id']}", lambda j: j["status"] not in ("queued", "running"))
            for r in results]
    assert sorted(j["deployed"]["version"] for j in jobs) == [1, 2, 3]
    for job in jobs:
        version = job["deployed"]
        data = (studio.home / "models" / "race" / f"v{version['version']}" / "model.onnx").read_bytes()
        assert hashlib.sha256(data).hexdigest() == version["sha256"]
    assert not any((studio.home / "models" / ".incoming").iterdir())


def test_deploy_is_a_job_with_stages_and_a_cancel(studio, ready):
    run = next(r["run"] for r in studio.api("GET", "/runs").json() if r["status"] == "completed")
    job = studio.api("POST", f"/runs/{run}/deploy", json={"model": "staged"}).json()
    assert job["kind"] == "deploy" and job["run"] == run and job["status"] == "queued"
    events = _events(studio, job["id"])
    stages = [d["stage"] for _, k, d in events if k == "progress"]
    assert stages == ["export", "parity check", "registration"], events
    assert [d["status"] for _, k, d in events if k == "status"] == ["queued", "running", "completed"]
    done = studio.api("GET", f"/jobs/{job['id']}").json()
    assert done["deployed"]["model"] == "staged" and done["deployed"]["parity"]["passed"]
    # cancelled while it waits or runs: nothing registered, no file left
    cancelled = studio.api("POST", f"/runs/{run}/deploy", json={"model": "never"}).json()
    assert studio.api("POST", f"/jobs/{cancelled['id']}/cancel").status_code == 200
    end = studio.wait(f"/jobs/{cancelled['id']}", lambda j: j["status"] not in ("queued", "running"))
    assert end["status"] == "cancelled" and end["deployed"] is None
    assert all(m["name"] != "never" for m in studio.api("GET", "/models").json())
    assert not any((studio.home / "models" / ".incoming").iterdir())
    missing = studio.api("POST", "/runs/no-such-run/deploy", json={"model": "x"})
    assert missing.status_code == 404


def test_a_studio_job_trains_with_the_cpus_it_reserved(studio, ready, tmp_path):
    """A CPU training job reserves the node's cores (one CPU training slot) and trains with as many torch threads
    (Ray would give it OMP_NUM_THREADS of its request, Ultralytics min(8, cores - 1)), at normal priority;
    `yolocls train` takes the same number from YOLOCLS_CPU_THREADS."""
    from yolocls.core.limits import available_cpus

    job = studio.train(ready, epochs=1)
    done = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] in ("completed", "failed"), 300)
    assert done["status"] == "completed", done
    in_studio = json.loads((studio.home / "runs" / job["run"] / "run.json").read_text())["cpu_threads"]
    assert in_studio == available_cpus()
    name = studio.api("GET", f"/datasets/{ready}").json()["name"]
    subprocess.run([sys.executable, "-m", "yolocls", "train", "--data", str(studio.home / "datasets" / name),
                    "--runs-dir", str(tmp_path), "--name", "cli", "--epochs", "1", "--imgsz", "32", "--batch", "8",
                    "--device", "cpu", "--aug", "none", "--set", "warmup_epochs=0", "--no-report", "--quiet",
                    "--no-pretrained"], check=True, capture_output=True, timeout=300,
                   env={**os.environ, "YOLOCLS_CPU_THREADS": str(in_studio)})
    in_cli = json.loads((tmp_path / "cli" / "run.json").read_text())["cpu_threads"]
    assert in_cli == in_studio


def test_what_the_pages_read_is_in_the_api(studio, ready):
    """Presets, dataset samples and duplicate images, a run's confusion matrix, filtered predictions and
    images, a model version's size and heatmap availability; nothing outside a dataset's splits is served."""
    book = studio.api("GET", "/presets").json()
    small = next(p for p in book["presets"] if p["name"] == "small-fast")
    assert small["args"]["imgsz"] == 320 and small["aug"] in book["augmentations"]
    ds = studio.api("GET", f"/datasets/{ready}").json()
    assert set(ds["samples"]) == set(CLASSES) and all(ds["samples"].values())
    for path in ds["samples"]["red"]:
        split, label, name = path.split("/")
        assert label == "red" and studio.api("GET", f"/datasets/{ready}/files/{path}?size=64").status_code == 200
    run = next(r["run"] for r in studio.api("GET", "/runs").json() if r["status"] == "completed")
    cm = studio.api("GET", f"/runs/{run}/confusion").json()
    assert cm["classes"] == sorted(CLASSES) and sum(map(sum, cm["matrix"])) == 12  # the 12 test images
    rows = studio.api("GET", f"/runs/{run}/predictions", params={"true": "red", "predicted": cm["classes"][0]}).json()
    assert len(rows) == cm["matrix"][cm["classes"].index("red")][0]
    assert all(r["true"] == "red" and r["predicted"] == cm["classes"][0] for r in rows)
    wrong = studio.api("GET", f"/runs/{run}/predictions", params={"wrong": True}).json()
    assert len(wrong) == 12 - sum(cm["matrix"][i][i] for i in range(3))
    assert [r["confidence"] for r in wrong] == sorted((r["confidence"] for r in wrong), reverse=True)
    everything = studio.api("GET", f"/runs/{run}/predictions").json()
    image = studio.api("GET", f"/runs/{run}/images/{everything[0]['path']}", params={"size": 48})
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    for bad in ("manifest.json", "../colours/manifest.json", "%2Fetc%2Fpasswd", "val/red/../../manifest.json"):
        assert studio.api("GET", f"/runs/{run}/images/{bad}").status_code == 404, bad
    version = studio.api("GET", "/models").json()[0]["versions"][0]
    assert version["imgsz"] == 32 and version["classes"] == sorted(CLASSES) and version["heatmaps"] is False


def test_a_learning_curve_job_on_a_dataset(studio, ready):
    bad = studio.api("POST", f"/datasets/{ready}/learning-curve", json={"fractions": [0.5, 1.5]})
    assert bad.status_code == 422 and "fractions" in bad.text
    too_small = studio.api("POST", f"/datasets/{ready}/learning-curve", json={"fractions": [0.01, 1]})
    assert too_small.status_code == 422 and "less than one image" in too_small.json()["detail"], too_small.text
    assert studio.api("GET", f"/datasets/{ready}/learning-curve").json()["job"] is None  # none yet
    assert studio.api("GET", f"/datasets/{ready}/learning-curve/plot").status_code == 404
    res = studio.api("POST", f"/datasets/{ready}/learning-curve",
                     json={"fractions": [0.5, 1], "epochs": 1, "imgsz": 32, "batch": 8, "device": "cpu", "aug": "none",
                           "set": {"warmup_epochs": 0, "workers": 0}})
    assert res.status_code == 202 and res.json()["kind"] == "learning-curve", res.text
    done = studio.wait(f"/jobs/{res.json()['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=600)
    assert done["status"] == "completed", done
    curve = studio.api("GET", f"/datasets/{ready}/learning-curve").json()
    assert [p["fraction"] for p in curve["points"]] == [0.5, 1.0] and curve["verdict"].startswith("More data")
    assert "/" not in curve["folder"] and not any(str(studio.home) in str(v) for v in curve.values())
    plot = studio.api("GET", curve["plot"].removeprefix("/api/v1"))
    assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"


def test_a_deployed_model_captures_what_it_is_unsure_of_when_set_to(studio, ready):
    run = next(r["run"] for r in studio.api("GET", "/runs").json() if r["status"] == "completed")
    studio.deploy(run, "watched")
    assert studio.api("GET", "/models/watched/capture").json()["enabled"] is False
    assert studio.api("PUT", "/models/nope/capture", json={"enabled": True}).status_code == 404
    assert studio.api("PUT", "/models/watched/capture", json={"enabled": True, "below": 2}).status_code == 422

    def predict(i: int) -> None:
        res = studio.api("POST", "/models/watched/predict",
                         files={"file": (f"../{i}.png", png_bytes(i % 3, i), "image/png")})
        assert res.status_code == 200, res.text

    predict(0)  # capture off: nothing kept
    on = studio.api("PUT", "/models/watched/capture",  # every answer is below 1.0: each kept, as "below"
                    json={"enabled": True, "unknown": False, "below": 1.0, "max_files": 2})
    assert on.status_code == 200 and on.json()["below"] == 1.0
    for i in range(1, 4):
        predict(i)
    listing = studio.wait("/models/watched/captures", lambda c: c["count"] == 2, timeout=30)  # bounded: 2 newest
    newest = listing["recent"][0]
    assert newest["reason"] == "below" and newest["model"].startswith("watched:v") and "../" not in newest["name"]
    image = studio.api("GET", f"/models/watched/captures/{newest['name']}")
    assert image.status_code == 200 and image.content == png_bytes(3 % 3, 3)
    assert studio.api("GET", "/models/watched/captures/..%2F..%2Fstudio.db").status_code == 404
    studio.api("PUT", "/models/watched/capture", json={"enabled": False})
    predict(4)
    time.sleep(0.5)
    assert studio.api("GET", "/models/watched/captures").json()["count"] == 2  # off again: nothing more kept


def test_a_sweep_job_leaves_its_trials_on_the_leaderboard(studio, ready):
    assert studio.api("POST", f"/datasets/{ready}/sweep", json={"space": "../../etc/space.yaml"}).status_code == 422
    empty = studio.api("POST", f"/datasets/{ready}/sweep", json={"space": {}})
    assert empty.status_code == 422 and "the search space is empty" in empty.json()["detail"]
    res = studio.api("POST", f"/datasets/{ready}/sweep",
                     json={"trials": 2, "epochs": 2, "imgsz": 32, "batch": 8,
                           "space": {"lr0": {"loguniform": [0.001, 0.01]}}, "set": {"warmup_epochs": 0, "workers": 0}})
    assert res.status_code == 202 and res.json()["kind"] == "sweep", res.text
    done = studio.wait(f"/jobs/{res.json()['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=600)
    assert done["status"] == "completed", (done, studio.api("GET", f"/jobs/{done['id']}/log").text[-2000:])
    summary = done["params"]["sweep"]
    assert summary["trials"] == 2 and 0.001 <= summary["best"]["config"]["lr0"] <= 0.01
    runs = {r["run"] for r in studio.api("GET", "/runs").json()}
    assert summary["best"]["run"] in runs


def test_simultaneous_uploads_and_jobs_get_distinct_ids(studio, ready):
    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            uploads = [client.post(f"{studio.url}/api/v1/datasets", data={"name": f"twin{k}"},
                                   files={"file": ("p.zip", dataset_zip(per_class=8), "application/zip")})
                       for k in range(2)]
            jobs = [client.post(f"{studio.url}/api/v1/jobs", json={"dataset": ready, "epochs": 1, "imgsz": 32,
                                                                    "device": "cpu", "aug": "none"})
                    for _ in range(3)]
            return list(await asyncio.gather(*uploads, *jobs))

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [202] * 5, [r.text for r in responses]
    ids = [r.json()["dataset"]["id"] for r in responses[:2]] + [r.json()["id"] for r in responses[2:]]
    assert len(set(ids)) == 5
    for r in responses[2:]:
        assert studio.api("POST", f"/jobs/{r.json()['id']}/cancel").status_code in (200, 409)
    studio.wait("/jobs", lambda jobs: all(j["status"] not in ("queued", "running") for j in jobs))
    in_use = studio.api("DELETE", f"/datasets/{ready}")
    assert in_use.status_code == 204 or in_use.status_code == 409


def test_the_web_process_never_loads_torch(studio):
    maps = Path(f"/proc/{studio.proc.pid}/maps").read_text()  # type: ignore[union-attr]
    assert "libtorch" not in maps and "torch/lib" not in maps and "ultralytics" not in maps


def test_restart_mid_job_loses_nothing_and_the_key_is_enforced(tmp_path):
    first = Studio(tmp_path / "home").start()
    try:
        dataset = first.ready_dataset("colours")
        job = first.train(dataset, epochs=5)
        first.wait(f"/jobs/{job['id']}", lambda j: j["epoch"] >= 1)
    finally:
        first.stop(signal.SIGTERM)
    (tmp_path / "home" / ".studio" / "uploads" / ".partial-cut").mkdir()  # what a cut upload leaves
    second = Studio(tmp_path / "home", env={"YOLOCLS_API_KEY": "k3y"}).start()
    try:
        assert second.api("GET", "/jobs").status_code == 401
        second.headers = {"X-API-Key": "k3y"}
        restarted = second.api("GET", f"/jobs/{job['id']}").json()
        assert restarted["status"] == "interrupted" and "resume" in restarted["error"]
        assert json.loads((tmp_path / "home" / "runs" / job["run"] / "run.json").read_text())["status"] == "interrupted"
        assert not (tmp_path / "home" / ".studio" / "uploads" / ".partial-cut").exists()
        assert second.api("GET", f"/datasets/{dataset}").json()["status"] == "ready"
        refused = second.api("DELETE", f"/datasets/{dataset}")  # the resume needs it
        assert refused.status_code == 409 and job["id"] in refused.json()["detail"]
        assert second.api("POST", f"/jobs/{job['id']}/resume").status_code == 202
        done = second.wait(f"/jobs/{job['id']}", lambda j: j["status"] in ("completed", "failed"))
        assert done["status"] == "completed" and done["epoch"] == 5
    finally:
        second.stop()
