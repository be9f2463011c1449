"""The studio after a kill, and next to the CLI in one home: preparations finish, half-written copies go, and
deleting a studio entry never removes a folder the studio did not publish."""

from __future__ import annotations

import io
import signal
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.helpers import CLASSES, Studio, dataset_zip, png_bytes

pytestmark = pytest.mark.slow


def test_a_preparation_killed_after_publishing_is_completed_on_restart(tmp_path):
    home = tmp_path / "home"
    first = Studio(home).start()
    try:
        dataset = first.ready_dataset("killed")
    finally:
        first.stop(signal.SIGKILL)
    # the state a SIGKILL leaves between publishing datasets/killed and recording it, plus a staging copy of a
    # preparation killed while writing
    with sqlite3.connect(home / "studio.db") as db:
        db.execute("UPDATE datasets SET status='preparing' WHERE id=?", (dataset,))
        db.execute("UPDATE jobs SET status='running' WHERE dataset_id=? AND kind='prepare'", (dataset,))
    staging = home / "datasets" / ".killed.tmp-abc123"
    (staging / "train" / "red").mkdir(parents=True)
    second = Studio(home).start()
    try:
        ds = second.wait(f"/datasets/{dataset}", lambda d: d["status"] != "preparing", timeout=60)
        assert ds["status"] == "ready" and ds["images"] == 60, ds
        jobs = [j for j in second.api("GET", "/jobs").json() if j["dataset"] == dataset]
        assert [j["status"] for j in jobs] == ["completed"]
        assert not staging.exists()
    finally:
        second.stop()


def test_deleting_a_failed_entry_keeps_the_dataset_the_cli_made_under_its_name(tmp_path):
    home = tmp_path / "home"
    studio = Studio(home).start()
    try:
        res = studio.upload_zip(b"PK\x03\x04 junk", name="shared")
        failed = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
        assert failed["status"] == "failed"
        source = tmp_path / "photos"
        for ci, name in enumerate(CLASSES):
            (source / name).mkdir(parents=True)
            for k in range(10):
                (source / name / f"{k}.png").write_bytes(png_bytes(ci, k))
        subprocess.run([sys.executable, "-m", "yolocls", "prepare", str(source), "--out",
                        str(home / "datasets" / "shared")], check=True, capture_output=True, timeout=300)
        assert studio.api("DELETE", f"/datasets/{failed['id']}").status_code == 204
        assert (home / "datasets" / "shared" / "manifest.json").is_file()  # the CLI's dataset is still there
        # a dataset the studio published is deleted with its entry
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for ci, name in enumerate(CLASSES):
                for k in range(10):
                    zf.writestr(f"own/{name}/{k}.png", png_bytes(ci, k))
        res = studio.upload_zip(buf.getvalue(), name="own")
        own = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
        assert own["status"] == "ready"
        assert studio.api("DELETE", f"/datasets/{own['id']}").status_code == 204
        assert not (home / "datasets" / "own").exists()
        assert not any(Path(home / ".studio" / "uploads").iterdir())
    finally:
        studio.stop()


def test_listing_big_datasets_does_not_stall_the_studio(tmp_path):
    """The datasets list is read from summaries stored once per dataset: reloading it in a loop (a page
    left open by several users) never parses manifests, so nothing else waits behind it."""
    import json
    import statistics
    import threading
    import time

    import httpx

    home = tmp_path / "home"
    studio = Studio(home).start()
    try:
        ids = [studio.ready_dataset(f"big{k}") for k in range(3)]
        for k in range(3):  # make each manifest as big as a 40,000-image dataset's (megabytes of JSON)
            path = home / "datasets" / f"big{k}" / "manifest.json"
            m = json.loads(path.read_text())
            m["files"] = [{**m["files"][i % len(m["files"])], "path": f"train/red/{i:06d}.png"} for i in range(40_000)]
            path.write_text(json.dumps(m))
        stop = threading.Event()

        def reload_list() -> None:
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    assert client.get(f"{studio.url}/api/v1/datasets").status_code == 200

        loaders = [threading.Thread(target=reload_list) for _ in range(3)]
        for t in loaders:
            t.start()
        latencies = []
        with httpx.Client(timeout=60) as client:
            for _ in range(40):
                t0 = time.perf_counter()
                assert client.get(f"{studio.url}/api/v1/jobs?limit=5").status_code == 200
                latencies.append(time.perf_counter() - t0)
        stop.set()
        for t in loaders:
            t.join()
        assert statistics.median(latencies) < 0.1, sorted(latencies)
        listed = studio.api("GET", "/datasets").json()
        assert {d["id"] for d in listed} == set(ids) and all(d["images"] == 60 and not d["samples"] for d in listed)
        detail = studio.api("GET", f"/datasets/{ids[0]}").json()  # the full view still has everything
        assert detail["samples"] and detail["classes"] == sorted(CLASSES)
    finally:
        studio.stop()


def test_upload_names_and_kept_originals(tmp_path):
    """A failed upload gives its name back, a derived name is suffixed rather than refused, a taken name in the
    query is refused before the body, and YOLOCLS_KEEP_UPLOADS keeps each original until its dataset goes."""
    home = tmp_path / "home"
    uploads = home / ".studio" / "uploads"
    studio = Studio(home, env={"YOLOCLS_KEEP_UPLOADS": "true"}).start()
    try:
        junk = studio.upload_zip(b"PK\x03\x04 junk", name="reuse").json()["dataset"]["id"]
        assert studio.wait(f"/datasets/{junk}", lambda d: d["status"] != "preparing")["status"] == "failed"
        assert (uploads / junk).is_dir()  # kept: the setting is on
        photos = dataset_zip(per_class=10)
        res = studio.upload_zip(photos, name="reuse")
        assert res.status_code == 202, res.text
        reused = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
        assert reused["status"] == "ready" and reused["name"] == "reuse"
        assert studio.api("GET", f"/datasets/{junk}").status_code == 404 and not (uploads / junk).exists()
        assert (uploads / reused["id"] / "upload.zip").is_file()  # the original, kept after preparation
        names = [studio.upload_zip(photos).json()["dataset"]["name"] for _ in range(2)]
        assert names == ["photos", "photos-2"]  # derived from photos.zip, never refused after the body

        def body():
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.zip\"\r\n\r\n"
            for _ in range(6):
                yield b"x" * 1_000_000

        kept = sorted(p.name for p in uploads.iterdir())
        res = httpx.post(f"{studio.url}/api/v1/datasets?name=reuse", content=body(), timeout=60,
                         headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert res.status_code == 409 and "'reuse' exists" in res.json()["detail"]
        assert sorted(p.name for p in uploads.iterdir()) == kept
        assert studio.api("DELETE", f"/datasets/{reused['id']}").status_code == 204
        assert not (uploads / reused["id"]).exists()
    finally:
        studio.stop()


def test_a_version_build_cut_short_by_a_kill_is_built_again_and_a_saved_label_survives(tmp_path):
    from tests.helpers import PER_CLASS, unlabelled_zip

    home = tmp_path / "home"
    first = Studio(home).start()
    try:
        res = first.upload_zip(unlabelled_zip(csv_rows=3 * PER_CLASS), name="cut", labelling="true")
        dataset = first.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")["id"]
        cut = first.api("POST", f"/datasets/{dataset}/versions").json()
        first.wait(f"/jobs/{cut['job']['id']}", lambda j: j["status"] == "completed")
        image = first.api("GET", f"/datasets/{dataset}/images", params={"limit": 1}).json()["images"][0]
        saved = first.api("PUT", f"/datasets/{dataset}/images/{image['id']}/label",
                          json={"none": True, "revision": image["revision"]})
        assert saved.status_code == 200
    finally:
        first.stop(signal.SIGKILL)  # right after the answer: the label was committed before it was sent
    # the state a kill leaves in the middle of the build: the version building, its job running, its staging
    # folders half-written, nothing published
    folder = home / "datasets" / "cut@v1"
    import shutil

    shutil.rmtree(folder)
    for partial in (".cut@v1.tmp-abc123", ".cut@v1.src-def456"):
        (home / "datasets" / partial / "train" / "red").mkdir(parents=True)
    with sqlite3.connect(home / "studio.db") as db:
        db.execute("UPDATE dataset_versions SET status='building' WHERE dataset_id=?", (dataset,))
        db.execute("UPDATE jobs SET status='running' WHERE id=?", (cut["job"]["id"],))
        db.execute("UPDATE datasets SET status='labelling' WHERE id=?", (dataset,))
    second = Studio(home).start()
    try:
        job = second.wait(f"/jobs/{cut['job']['id']}", lambda j: j["status"] not in ("queued", "running"))
        assert job["status"] == "completed", job
        version = second.api("GET", f"/datasets/{dataset}/versions/1").json()
        assert version["status"] == "ready" and (folder / "manifest.json").is_file()
        assert not list((home / "datasets").glob(".cut@v1.*"))
        after = second.api("GET", f"/datasets/{dataset}/images/{image['id']}").json()
        assert after["state"] == "none" and after["revision"] == image["revision"] + 1
    finally:
        second.stop()
