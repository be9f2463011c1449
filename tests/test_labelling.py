"""Labelling in the studio for real: a studio process, local Ray, uploads of unlabelled images, labels from two
named keys, classes, CSV imports, versions built by jobs (SQLite and a real PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import CLASSES, PER_CLASS, Studio, unlabelled_zip

pytestmark = pytest.mark.slow
ALICE = {"X-API-Key": "alice-key-123"}
BOB = {"X-API-Key": "bob-key-4567"}


def truth(name: str) -> str:
    n = int(name.rsplit("_", 1)[1].split(".")[0])
    return CLASSES[n // PER_CLASS]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def studio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    env = {"YOLOCLS_API_KEYS": f"alice:{ALICE['X-API-Key']},bob:{BOB['X-API-Key']}",
           "YOLOCLS_MAX_LABELS_BYTES": "300000"}
    if request.param == "postgresql":
        env["YOLOCLS_DATABASE_URL"] = request.getfixturevalue("postgres").database("labelling")
    s = Studio(tmp_path_factory.mktemp("labelling") / "home", env=env).start()
    s.headers = ALICE
    yield s
    s.stop()


def upload_for_labelling(studio: Studio, name: str, csv_rows: int = 0) -> str:
    res = studio.upload_zip(unlabelled_zip(csv_rows), name=name, labelling="true")
    assert res.status_code == 202, res.text
    assert res.json()["job"]["kind"] == "ingest"
    ds = studio.wait(f"/datasets/{res.json()['dataset']['id']}", lambda d: d["status"] != "preparing")
    assert ds["status"] == "labelling", ds
    return str(ds["id"])


@pytest.fixture(scope="module")
def partial(studio: Studio) -> str:
    return upload_for_labelling(studio, "partial", csv_rows=PER_CLASS * 2)


def all_images(studio: Studio, ds: str, **filters) -> list[dict]:
    res = studio.api("GET", f"/datasets/{ds}/images", params={"limit": 1000, **filters})
    assert res.status_code == 200, res.text
    return list(res.json()["images"])


def test_an_upload_for_labelling_checks_every_image_and_keeps_the_partial_labels(studio, partial):
    ds = studio.api("GET", f"/datasets/{partial}").json()
    assert ds["images"] == 3 * PER_CLASS and ds["skipped_count"] == 1 and ds["labelled"] == 2 * PER_CLASS
    progress = studio.api("GET", f"/datasets/{partial}/labelling").json()
    assert (progress["total"], progress["labelled"], progress["unlabelled"]) == (36, 24, 12)
    assert [(c["name"], c["key"], c["images"]) for c in progress["classes"]] == [("green", "1", 12), ("red", "2", 12)]
    labelled = all_images(studio, partial, state="labelled")
    assert all(im["label"] == truth(im["name"]) for im in labelled)  # the CSV named them by file name only
    names = [im["name"] for im in all_images(studio, partial)]
    assert len(names) == 36 and ("copy_of_000.png" in names) != ("img_000.png" in names)  # exact copies: one image
    thumb = studio.api("GET", f"/datasets/{partial}/images/{labelled[0]['id']}/file", params={"size": 64})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert studio.api("GET", f"/datasets/{partial}/images/999999/file").status_code == 404
    refused = studio.api("POST", "/jobs", json={"dataset": partial, "epochs": 1})
    assert refused.status_code == 422 and "cut a version" in refused.json()["detail"]


def test_a_stale_change_is_refused_with_the_current_label_and_every_change_has_its_author(studio, partial):
    image = all_images(studio, partial, state="unlabelled")[0]
    path = f"/datasets/{partial}/images/{image['id']}/label"
    first = studio.api("PUT", path, json={"label": "red", "revision": image["revision"]}, headers=ALICE)
    assert first.status_code == 200 and first.json()["author"] == "alice" and first.json()["revision"] == 1
    stale = studio.api("PUT", path, json={"label": "green", "revision": image["revision"]}, headers=BOB)
    assert stale.status_code == 409 and stale.json()["current"]["label"] == "red"
    assert "alice" in stale.json()["detail"]
    again = studio.api("PUT", path, json={"none": True, "revision": 1}, headers=BOB)
    assert again.status_code == 200 and again.json()["state"] == "none" and again.json()["author"] == "bob"
    unknown = studio.api("PUT", path, json={"label": "purple", "revision": 2})
    assert unknown.status_code == 404 and "create it first" in unknown.json()["detail"]
    history = studio.api("GET", f"/datasets/{partial}/changes", params={"image": image["id"]}).json()
    assert [(h["author"], h["old"], h["new"]) for h in history] == [("bob", "red", ""), ("alice", None, "red")]
    assert studio.api("GET", f"/datasets/{partial}/labelling", headers={"X-API-Key": "wrong-key-000"}
                      ).status_code == 401
    # back to unlabelled for the tests below
    assert studio.api("PUT", path, json={"label": None, "revision": 2}).status_code == 200


def test_classes_are_added_renamed_merged_and_deleted_with_their_images(studio, partial):
    base = f"/datasets/{partial}/classes"
    assert studio.api("POST", base, json={"name": "blue"}).json() == {"name": "blue", "key": "3", "images": 0}
    assert studio.api("POST", base, json={"name": "blue"}).status_code == 409
    assert studio.api("POST", base, json={"name": "a/b"}).status_code == 422
    assert studio.api("POST", base, json={"name": "x" * 101}).status_code == 422
    assert studio.api("POST", base, json={"name": "teal", "key": "1"}).status_code == 409  # green's key
    assert studio.api("POST", base, json={"name": "teal", "key": "t"}).json()["key"] == "t"
    reds = [im for im in all_images(studio, partial, label="red")][:2]
    moved = studio.api("POST", f"/datasets/{partial}/labels", json={
        "images": [{"id": im["id"], "revision": im["revision"]} for im in reds], "label": "teal"})
    assert len(moved.json()["changed"]) == 2 and moved.json()["conflicts"] == []
    stale = studio.api("POST", f"/datasets/{partial}/labels", json={
        "images": [{"id": im["id"], "revision": im["revision"]} for im in reds], "label": "blue"})
    assert stale.json()["changed"] == [] and {c["label"] for c in stale.json()["conflicts"]} == {"teal"}
    assert studio.api("DELETE", f"{base}/teal").status_code == 409  # it has images: say what becomes of them
    renamed = studio.api("PATCH", f"{base}/teal", json={"name": "cyan"})
    assert renamed.json() == {"name": "cyan", "key": "t", "images": 2}
    merged = studio.api("PATCH", f"{base}/cyan", json={"merge_into": "red"})
    assert merged.json()["name"] == "red" and merged.json()["images"] == 12
    assert studio.api("POST", base, json={"name": "spare"}).status_code == 201
    assert studio.api("DELETE", f"{base}/spare").status_code == 204
    names = [c["name"] for c in studio.api("GET", base).json()]
    assert names == ["green", "red", "blue"]


def test_a_bad_labels_csv_is_refused_whole_with_one_line_per_problem(studio, partial):
    before = studio.api("GET", f"/datasets/{partial}/labelling").json()
    for body, expected in ((b"filename,label,extra\na.png,red,1\n", "unknown column(s) 'extra'"),
                           (b"filename,label\nshots/img_030.png,blue\nshots/img_030.png,red\n", "line 3: "),
                           (b"filename,label\nimg_031.png,bl/ue\nimg_032.png,\n", "line 2: 'img_031.png': class name"),
                           (b"filename,label\nimg_033.png,b\x01lue\n", "control character"),
                           (b"\xff\xfe\x00", "not UTF-8")):
        res = studio.api("POST", f"/datasets/{partial}/labels/import", content=body)
        assert res.status_code == 422 and expected in res.json()["detail"], (body, res.text)
    assert studio.api("GET", f"/datasets/{partial}/labelling").json()["labelled"] == before["labelled"]


def test_a_partial_csv_import_reports_applied_unchanged_conflicting_and_unknown_rows(studio, partial):
    rows = ["\ufefffilename,label", "img_000.png,red", "shots/img_001.png,green"]  # BOM; one same, one conflicting
    rows += [f"img_{n:03d}.png,blue" for n in range(24, 36)] + ["nothere.png,blue"]
    body = ("\n".join(rows) + "\n").encode()
    dry = studio.api("POST", f"/datasets/{partial}/labels/import", params={"dry_run": True}, content=body).json()
    assert dry["dry_run"] and dry["applied"] == 12
    summary = studio.api("POST", f"/datasets/{partial}/labels/import", content=body).json()
    assert (summary["applied"], summary["unchanged"], summary["conflict_count"], summary["unknown_count"]) == \
        (12, 1, 1, 1)
    assert summary["conflicts"][0] == {"name": "img_001.png", "current": "red", "csv": "green"}
    assert summary["unknown"][0]["filename"] == "nothere.png"
    progress = studio.api("GET", f"/datasets/{partial}/labelling").json()
    assert progress["unlabelled"] == 0
    exported = studio.api("GET", f"/datasets/{partial}/labels.csv")
    lines = exported.text.strip().splitlines()
    assert lines[0] == "filename,label" and len(lines) == 37 and "img_001.png,red" in lines
    fixed = studio.api("POST", f"/datasets/{partial}/labels/import", params={"overwrite": True},
                       content=b"filename,label\nshots/img_001.png,red\n").json()
    assert fixed["unchanged"] == 1


def test_versions_keep_their_splits_record_what_changed_and_are_trained_on(studio, partial):
    first = studio.api("POST", f"/datasets/{partial}/versions")
    assert first.status_code == 202, first.text
    assert first.json()["version"]["number"] == 1 and first.json()["job"]["kind"] == "version"
    job = studio.wait(f"/jobs/{first.json()['job']['id']}", lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "completed", job
    v1 = studio.api("GET", f"/datasets/{partial}/versions/1").json()
    assert v1["status"] == "ready" and v1["counts"] == {"blue": 12, "green": 12, "red": 12}
    assert (studio.home / v1["folder"] / "manifest.json").is_file()
    ds = studio.api("GET", f"/datasets/{partial}").json()
    assert ds["status"] == "ready" and ds["version"] == 1 and set(ds["counts"]) == {"train", "val", "test"}
    again = studio.api("POST", f"/datasets/{partial}/versions")
    assert again.status_code == 409 and "nothing changed since version 1" in again.json()["detail"]
    splits = {im["id"]: im["split"] for im in all_images(studio, partial)}
    assert set(splits.values()) == {"train", "val", "test"}
    # relabel two images (a mistake found), mark one "none of these", cut version 2
    a, b, c = all_images(studio, partial, label="blue")[:3]
    assert studio.api("PUT", f"/datasets/{partial}/images/{a['id']}/label",
                      json={"label": "green", "revision": a["revision"]}).status_code == 200
    assert studio.api("PUT", f"/datasets/{partial}/images/{b['id']}/label",
                      json={"none": True, "revision": b["revision"]}).status_code == 200
    changed = all_images(studio, partial, changed=True)
    assert {im["id"] for im in changed} == {a["id"], b["id"]}
    assert studio.api("GET", f"/datasets/{partial}/labelling").json()["changed"] == 2
    second = studio.api("POST", f"/datasets/{partial}/versions").json()
    job = studio.wait(f"/jobs/{second['job']['id']}", lambda j: j["status"] not in ("queued", "running"))
    assert job["status"] == "completed", job
    assert {im["id"]: im["split"] for im in all_images(studio, partial)} == splits  # stable
    assert all_images(studio, partial, changed=True) == []
    diff = studio.api("GET", f"/datasets/{partial}/versions/2/diff").json()
    assert (diff["added"], diff["removed"], diff["relabelled"]) == (0, 1, 1)
    assert diff["counts"]["blue"] == {"base": 12, "target": 10}
    assert c["id"] in {im["id"] for im in all_images(studio, partial, label="blue")}
    job = studio.train(partial, epochs=1, version=1)
    run = job["run"]
    done = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"), timeout=600)
    assert done["status"] == "completed", done
    record = studio.api("GET", f"/runs/{run}").json()
    assert "partial@v1" in str(record)
    later = studio.train(partial, epochs=1)  # the latest version (2) by default
    finished = studio.wait(f"/jobs/{later['id']}", lambda j: j["status"] not in ("queued", "running"), 600)
    assert finished["status"] == "completed", finished
    both = studio.api("GET", "/compare", params={"runs": [run, later["run"]]}).json()
    test_images = sum(1 for im in all_images(studio, partial) if im["split"] == "test" and im["state"] == "labelled")
    assert both["images"] == test_images and [r["dataset"] for r in both["runs"]] == ["partial@v1", "partial@v2"]
    assert set(both["recall_change"]) == {"blue", "green", "red"}
    assert studio.api("GET", "/compare", params={"runs": [run]}).status_code == 422


def test_the_loop_suggestions_by_uncertainty_suspected_errors_and_captured_images(studio):
    from tests.helpers import png_bytes

    ds = upload_for_labelling(studio, "loop", csv_rows=30)  # 12 red, 12 green, 6 blue labelled; 6 blue not
    wrong = all_images(studio, ds, label="red")[:3]  # three labelling mistakes: red images called green
    flipped = studio.api("POST", f"/datasets/{ds}/labels", json={
        "images": [{"id": im["id"], "revision": im["revision"]} for im in wrong], "label": "green"}).json()
    assert len(flipped["changed"]) == 3
    cut = studio.api("POST", f"/datasets/{ds}/versions").json()
    assert studio.wait(f"/jobs/{cut['job']['id']}", lambda j: j["status"] not in ("queued", "running"))[
        "status"] == "completed"
    job = studio.train(ds, epochs=3)
    run = studio.wait(f"/jobs/{job['id']}", lambda j: j["status"] not in ("queued", "running"), 600)
    assert run["status"] == "completed", run
    assert studio.api("POST", f"/datasets/{ds}/suggestions", json={"run": "nope"}).status_code == 404
    assert studio.api("POST", f"/datasets/{ds}/suggestions", json={}).status_code == 422
    res = studio.api("POST", f"/datasets/{ds}/suggestions", json={"run": run["run"]})
    assert res.status_code == 202 and res.json()["kind"] == "suggest", res.text
    assert studio.wait(f"/jobs/{res.json()['id']}", lambda j: j["status"] not in ("queued", "running"))[
        "status"] == "completed"
    queue = all_images(studio, ds, state="unlabelled", order="uncertainty")
    assert len(queue) == 6 and all(im["suggestion"] and im["suggestion"]["source"].startswith("run ") for im in queue)
    by_class: dict[str, list[float]] = {}
    for im in queue:
        by_class.setdefault(im["suggestion"]["label"], []).append(im["suggestion"]["margin"])
    assert all(m == sorted(m) for m in by_class.values())  # each suggested class's hardest first...
    assert len({im["suggestion"]["label"] for im in queue[:len(by_class)]}) == len(by_class)  # ...in turns
    sure = all_images(studio, ds, state="unlabelled", order="confidence")
    firsts: dict[str, float] = {}
    for im in sure:
        firsts.setdefault(im["suggestion"]["label"], im["suggestion"]["confidence"])
    assert all(firsts[im["suggestion"]["label"]] >= im["suggestion"]["confidence"] for im in sure)
    chosen = queue[:2]
    accepted = studio.api("POST", f"/datasets/{ds}/suggestions/accept", json={
        "images": [{"id": im["id"], "revision": im["revision"]} for im in chosen], "kind": "model"}).json()
    assert [im["label"] for im in accepted["changed"]] == [im["suggestion"]["label"] for im in chosen]

    too_many = studio.api("POST", f"/datasets/{ds}/label-check", json={"folds": 7})  # blue has 6 images in v1
    assert too_many.status_code == 422 and "'blue' (6)" in too_many.json()["detail"], too_many.text
    check = studio.api("POST", f"/datasets/{ds}/label-check", json={
        "folds": 2, "epochs": 1, "imgsz": 32, "batch": 8, "device": "cpu", "aug": "none",
        "set": {"warmup_epochs": 0, "workers": 0}})
    assert check.status_code == 202 and check.json()["kind"] == "label-check", check.text
    done = studio.wait(f"/jobs/{check.json()['id']}", lambda j: j["status"] not in ("queued", "running"), 900)
    assert done["status"] == "completed", (done["error"], studio.api("GET", f"/jobs/{done['id']}/log").text[-3000:])
    suspects = all_images(studio, ds, suspected=True, order="suspicion")
    # three labels are wrong (and a 1-epoch model is far from sure): the check doubts some
    assert len(suspects) >= 2 and all(im["suspect"]["label"] != im["label"] for im in suspects)
    scores = [im["suspect"]["score"] for im in suspects]
    assert scores == sorted(scores)
    kept, taken = suspects[0], suspects[1]
    assert studio.api("POST", f"/datasets/{ds}/suggestions/keep", json={"images": [kept["id"]]}).status_code == 204
    fixed = studio.api("POST", f"/datasets/{ds}/suggestions/accept", json={
        "images": [{"id": taken["id"], "revision": taken["revision"]}], "kind": "error"}).json()
    assert fixed["changed"][0]["label"] == taken["suspect"]["label"]
    assert fixed["changed"][0]["suspect"]["decision"] == "accepted"
    left = {im["id"] for im in all_images(studio, ds, suspected=True)}
    assert kept["id"] not in left and taken["id"] not in left  # decided once for this version

    studio.deploy(run["run"], "loopmodel")
    assert studio.api("POST", f"/datasets/{ds}/captures/import", json={"model": "loopmodel"}).status_code == 409
    assert studio.api("PUT", "/models/loopmodel/capture",
                      json={"enabled": True, "unknown": True, "below": 1.0}).status_code == 200
    sent = [png_bytes(0, 900), png_bytes(2, 901), b"not an image at all"]
    for i, data in enumerate(sent):
        studio.api("POST", "/models/loopmodel/predict", files={"file": (f"{i}.png", data, "image/png")})
    studio.wait("/models/loopmodel/captures", lambda c: c["count"] == 2, timeout=30)
    imported = studio.api("POST", f"/datasets/{ds}/captures/import", json={"model": "loopmodel"})
    assert imported.status_code == 202, imported.text
    done = studio.wait(f"/jobs/{imported.json()['id']}", lambda j: j["status"] not in ("queued", "running"))
    assert done["status"] == "completed" and done["params"]["added"] == 2, done
    captured = all_images(studio, ds, q="captured/loopmodel/", order="uncertainty")
    assert len(captured) == 2 and all(im["state"] == "unlabelled" and im["suggestion"] for im in captured)
    again = studio.api("POST", f"/datasets/{ds}/captures/import", json={"model": "loopmodel"}).json()
    assert studio.wait(f"/jobs/{again['id']}", lambda j: j["status"] not in ("queued", "running"))[
        "params"]["added"] == 0  # the same bytes are not added twice
    made = [studio.home / ".studio" / "pool" / ds, studio.home / ".studio" / "versions" / ds,
            studio.home / "datasets" / "loop@v1"]
    assert all(p.exists() for p in made)
    assert studio.api("DELETE", f"/datasets/{ds}").status_code == 204
    assert not any(p.exists() for p in made)  # the pool, the snapshots and every version go with the dataset


def test_a_dataset_uploaded_labelled_becomes_version_1_of_its_labels(studio):
    ds = studio.ready_dataset("adopted")
    progress = studio.api("GET", f"/datasets/{ds}/labelling").json()
    assert progress["labelled"] == 60 and progress["last_version"] == 1 and progress["changed"] == 0
    v1 = studio.api("GET", f"/datasets/{ds}/versions").json()
    assert [v["number"] for v in v1] == [1] and v1[0]["folder"] == "datasets/adopted"
    assert {im["split"] for im in all_images(studio, ds)} == {"train", "val", "test"}
    assert studio.api("DELETE", f"/datasets/{ds}").status_code == 204


def test_simultaneous_changes_of_one_image_are_one_change_and_the_rest_refused(studio, partial):
    import concurrent.futures

    image = all_images(studio, partial)[5]
    path = f"/datasets/{partial}/images/{image['id']}/label"
    changes = f"/datasets/{partial}/changes"
    before = len(studio.api("GET", changes, params={"image": image["id"]}).json())
    others = [c for c in CLASSES if c != image["label"]]  # a label equal to the current one changes nothing
    wanted = others * 4

    def put(label: str) -> int:
        return studio.api("PUT", path, json={"label": label, "revision": image["revision"]}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(put, wanted))
    assert sorted(codes) == [200] + [409] * 7, codes
    after = studio.api("GET", f"/datasets/{partial}/images/{image['id']}").json()
    assert after["revision"] == image["revision"] + 1
    assert len(studio.api("GET", changes, params={"image": image["id"]}).json()) == before + 1


def test_bad_labelling_requests_are_clear_errors(studio, partial):
    assert studio.api("GET", f"/datasets/{partial}/images/999999").status_code == 404
    assert studio.api("PUT", f"/datasets/{partial}/images/999999/label",
                      json={"label": "red", "revision": 0}).status_code == 404
    assert studio.api("PUT", f"/datasets/{partial}/images/1/label", json={"label": "red"}).status_code == 422
    assert studio.api("PUT", f"/datasets/{partial}/images/1/label",
                      json={"label": "red", "revision": 0, "path": "/etc"}).status_code == 422
    too_many = {"images": [{"id": i, "revision": 0} for i in range(20_001)], "label": "red"}
    assert studio.api("POST", f"/datasets/{partial}/labels", json=too_many).status_code in (413, 422)
    missing = studio.api("POST", f"/datasets/{partial}/labels", json={"images": [{"id": 999999, "revision": 0}],
                                                                      "label": "red"})
    assert missing.status_code == 404
    assert studio.api("GET", f"/datasets/{partial}/versions/99").status_code == 404
    assert studio.api("DELETE", f"/datasets/{partial}/classes/nope").status_code == 404
    assert studio.api("PATCH", f"/datasets/{partial}/classes/red", json={"key": "0"}).status_code == 409
    assert studio.api("PATCH", f"/datasets/{partial}/classes/red", json={"merge_into": "red"}).status_code == 409
    big = b"filename,label\n" + b"x.png,red\n" * 40_000  # over YOLOCLS_MAX_LABELS_BYTES (300 kB here)
    assert studio.api("POST", f"/datasets/{partial}/labels/import", content=big).status_code == 413
    assert studio.api("GET", "/datasets/nope/labelling").status_code == 404
    for res in (studio.api("GET", f"/datasets/{partial}/images", params={"limit": 5000}),
                studio.api("GET", f"/datasets/{partial}/images", params={"state": "weird"})):
        assert res.status_code == 422 and "/" not in str(res.json().get("detail", ""))[:1]
