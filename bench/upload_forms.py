"""The 15,000-image reference set in the three forms users send, through the studio and the CLI:

1. a zip of a folder holding the images and `labels.csv` (what a file manager's "compress" or `zip -r x.zip x`
   makes), 2. a zip with the images and `labels.csv` at its root, 3. a browser folder upload (one `files` part
   per file, named by its relative path, the CSV among them).

For each form: how fast the studio receives it (MB/s until `202`), then that the studio's preparation and
`yolocls prepare` on the same bytes give the same counts. The folder upload's speed is compared with the zip's
(same bytes, same run: the ratio is the figure).

    .venv/bin/python bench/upload_forms.py [--images 15000] [--size 640x480]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.prepare import csv_form, make_source  # noqa: E402
from bench.studio import start_studio  # noqa: E402

WORK = REPO / "bench" / "_work" / "upload_forms"
BOUNDARY = "yoloclsbenchboundary"


def make_zip(flat: Path, dest: Path, top: str | None) -> Path:
    """The flat folder + labels.csv as a zip (stored: JPEGs do not compress), under `top/` or at the root."""
    if dest.exists():
        return dest
    tmp = dest.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(flat.iterdir()):
            zf.write(path, f"{top}/{path.name}" if top else path.name)
    tmp.rename(dest)
    return dest


def _part(field: str, filename: str, content_type: str) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()


def _field(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def archive_body(name: str, archive: Path) -> Iterator[bytes]:
    yield _field("name", name)
    yield _part("file", archive.name, "application/zip")
    with archive.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def folder_body(name: str, flat: Path) -> Iterator[bytes]:
    """What a browser sends for a picked folder: every file as a `files` part named `folder/file`."""
    yield _field("name", name)
    for path in sorted(flat.iterdir()):
        kind = "text/csv" if path.suffix == ".csv" else "image/jpeg"
        yield _part("files", f"{flat.name}/{path.name}", kind) + path.read_bytes() + b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def upload(url: str, body: Iterator[bytes], megabytes: float) -> tuple[str, float]:
    t0 = time.perf_counter()
    res = httpx.post(f"{url}/api/v1/datasets", content=body, timeout=1800,
                     headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    seconds = time.perf_counter() - t0
    if res.status_code != 202:
        raise SystemExit(f"upload refused: {res.status_code} {res.text[:300]}")
    return res.json()["dataset"]["id"], megabytes / seconds


def studio_counts(url: str, dataset_id: str) -> dict[str, int]:
    while True:
        ds = httpx.get(f"{url}/api/v1/datasets/{dataset_id}", timeout=60).json()
        if ds["status"] != "preparing":
            break
        time.sleep(1)
    if ds["status"] != "ready":
        raise SystemExit(f"studio preparation failed: {ds.get('error')}")
    skipped = ds["skipped"]
    return {"images": ds["images"], "classes": len(ds["classes"]),
            "skipped": len(skipped) if isinstance(skipped, list) else skipped}


def cli_counts(source: Path) -> dict[str, int]:
    out = WORK / "cli-out"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "yolocls", "prepare", str(source), "--out", str(out)], check=True,
                   capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out)
    return {"images": len(manifest["files"]), "classes": len(manifest["classes"]), "skipped": len(manifest["skipped"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=15_000)
    ap.add_argument("--size", default="640x480")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    flat = csv_form(make_source(REPO / "bench" / "_work" / "prepare", args.images, (w, h)))
    WORK.mkdir(parents=True, exist_ok=True)
    zipped = make_zip(flat, WORK / f"{flat.name}-folder.zip", top=flat.name)
    at_root = make_zip(flat, WORK / f"{flat.name}-root.zip", top=None)
    megabytes = sum(p.stat().st_size for p in flat.iterdir()) / 1e6
    print(f"{args.images} {args.size} JPEGs + labels.csv, {megabytes:.0f} MB; {os.cpu_count()} cores")
    home = WORK / "home"
    shutil.rmtree(home, ignore_errors=True)
    studio, url = start_studio(home)
    rows = []
    try:
        for form, body, source in (("zip of a folder + CSV", lambda n: archive_body(n, zipped), zipped),
                                   ("zip, files at the root", lambda n: archive_body(n, at_root), at_root),
                                   ("folder upload + CSV", lambda n: folder_body(n, flat), flat)):
            name = f"form{len(rows)}"
            dataset_id, speed = upload(url, body(name), megabytes)
            rows.append((form, speed, studio_counts(url, dataset_id), cli_counts(source)))
            print(f"{form}: received at {speed:.0f} MB/s")
    finally:
        studio.terminate()
        studio.wait(60)
    print("\n| form | received | studio images/classes/skipped | CLI images/classes/skipped |\n|---|---|---|---|")
    for form, speed, studio, cli in rows:
        print(f"| {form} | {speed:.0f} MB/s | {studio['images']}/{studio['classes']}/{studio['skipped']} | "
              f"{cli['images']}/{cli['classes']}/{cli['skipped']} |")
    same = all(r[2] == r[3] == rows[0][2] for r in rows)
    print(f"same counts everywhere: {same}; folder upload / zip receive speed: {rows[2][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
