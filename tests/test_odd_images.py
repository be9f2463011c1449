"""Odd files from the wild: prepare never sinks on one file, and the server accepts exactly what prepare accepts."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from tests.helpers import noise_image
from tests.odd_images import write_corpus
from yolocls.core.imaging import decode_bgr
from yolocls.data.images import scan_image
from yolocls.data.manifest import Manifest
from yolocls.data.prepare import PrepareOptions, prepare_dataset
from yolocls.serving.app import create_app
from yolocls.serving.settings import ServeSettings

MUST_BE_KEPT = {"onebit_transparent.png", "palette_transparent.png", "rgb_transparent_key.png", "grey16.png",
                "rgb48.png", "float01.tif", "float_big.tif", "int32.tif", "targa.tga", "targa_rle.tga", "icon.ico",
                "photoshop.psd", "direct.dds", "animated.gif", "animated.png", "cmyk.jpg", "exif_rotated.jpg",
                "bmp32.bmp", "la.png", "rgba.png"}
MUST_BE_SKIPPED = {"empty.jpg": "empty file", "text.jpg": "not an image", "bomb.png": "too large",
                   "bomb.hdr": "not an image", "truncated.png": "corrupt or truncated",
                   "truncated_photo.jpg": "corrupt or truncated",
                   "broken_header.png": "not an image"}


@pytest.fixture(scope="module")
def odd_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes, each with the whole odd corpus and enough plain images to split, over 256 files in all
    (so prepare really uses its worker processes)."""
    src = tmp_path_factory.mktemp("odd") / "src"
    for ci, label in enumerate(("a", "b")):
        write_corpus(src / label, seed=1000 * ci)
        for k in range(120):
            noise_image(50_000 + 1000 * ci + k).save(src / label / f"plain_{k:03d}.jpg", quality=90)
    return src


@pytest.fixture(scope="module")
def odd_prepared(odd_source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("odd-out") / "data"
    result = prepare_dataset(PrepareOptions(source=odd_source, out=out, workers=2, progress=False,
                                            near_dup_threshold=-1))
    return out, result.manifest


def test_every_odd_file_is_used_or_skipped_exactly_once(odd_source, odd_prepared):
    _, manifest = odd_prepared
    seen = Counter([f.source for f in manifest.files] + [s.path for s in manifest.skipped])
    everything = {p.relative_to(odd_source).as_posix() for p in odd_source.rglob("*") if p.is_file()}
    assert set(seen) == everything
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1]
    kept = {f.source for f in manifest.files}
    reasons = {s.path: s.reason for s in manifest.skipped}
    for label in ("a", "b"):
        for name in MUST_BE_KEPT:
            assert f"{label}/{name}" in kept, reasons.get(f"{label}/{name}")
        for name, reason in MUST_BE_SKIPPED.items():
            assert reasons[f"{label}/{name}"].startswith(reason)


def test_every_output_reads_as_upright_8bit_rgb_everywhere(odd_source, odd_prepared):
    out, manifest = odd_prepared
    for f in manifest.files:
        with Image.open(odd_source / f.source) as src:
            expected = (ImageOps.exif_transpose(src) or src).size
        bgr = cv2.imread(str(out / f.path))  # default flags, as Ultralytics reads it
        assert bgr is not None and bgr.dtype == np.uint8 and bgr.shape == (expected[1], expected[0], 3), f.path
        with Image.open(out / f.path) as written:
            assert written.mode == "RGB" and written.size == expected, f.path
            assert "transparency" not in written.info


def test_transparency_keys_are_composited_on_white(odd_prepared):
    out, manifest = odd_prepared
    # 1-bit with colour 0 transparent: black pixels become white, white stay white -> all white
    written = next(f.path for f in manifest.files if f.source == "a/onebit_transparent.png")
    assert (cv2.imread(str(out / written)) == 255).all()


def test_converted_pngs_decode_in_the_server_exactly_as_prepare_wrote_them(odd_source, odd_prepared):
    """One decoding contract: a served file gets the pixels its prepared (lossless) copy has."""
    out, manifest = odd_prepared
    checked = 0
    for f in manifest.files:
        if f.converted and f.path.endswith(".png"):
            served = decode_bgr((odd_source / f.source).read_bytes(), f.source)
            assert np.array_equal(served, cv2.imread(str(out / f.path))), f.source
            checked += 1
    assert checked >= 20


def test_prepare_never_modifies_a_source_file(tmp_path):
    """Colliding output names (x.jpg, x_<hash>.jpg, another x.jpg) once wrote through a hard link."""
    src = tmp_path / "src"
    imgs = {f"c{k}": noise_image(900 + k) for k in range(3)}
    data = {}
    for k, im in imgs.items():
        path = tmp_path / f"{k}.jpg"
        im.save(path, quality=90)
        data[k] = path.read_bytes()
    third_hash = hashlib.sha256(data["c2"]).hexdigest()[:10]
    layout = {"train/cat/a/x.jpg": data["c0"], f"train/cat/b/x_{third_hash}.jpg": data["c1"],
              "train/cat/c/x.jpg": data["c2"]}
    for split in ("train", "val"):
        for label in ("cat", "dog"):
            for k in range(3):
                layout[f"{split}/{label}/more/{split}_{label}_{k}.jpg"] = None  # type: ignore[assignment]
    for rel, content in layout.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            noise_image(abs(hash(rel)) % 10_000 + 2000).save(path, quality=90)
        else:
            path.write_bytes(content)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    result = prepare_dataset(PrepareOptions(source=src, out=tmp_path / "out", progress=False,
                                            near_dup_threshold=-1))
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    assert before == after
    names = [f.path for f in result.manifest.files if f.path.startswith("train/cat/x")]
    assert len(names) == len(set(names)) == 3
    written = {f.source: hashlib.sha256((tmp_path / "out" / f.path).read_bytes()).hexdigest()
               for f in result.manifest.files}
    for f in result.manifest.files:  # every output holds its own source's bytes
        assert written[f.source] == before[src / f.source]


@pytest.fixture(scope="module")
def odd_client(exported_run: Path):
    with TestClient(create_app(ServeSettings(model=exported_run))) as client:  # type: ignore[call-arg]
        yield client


def test_server_accepts_exactly_what_prepare_accepts(odd_client, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    for path in corpus:
        accepted = scan_image(path).ok
        response = odd_client.post("/predict", files={"file": (path.name, path.read_bytes())})
        if accepted:
            assert response.status_code == 200, (path.name, response.text)
        else:
            assert response.status_code in (413, 415, 422), (path.name, response.status_code, response.text)
            assert path.name in response.json()["detail"]


def test_server_says_unsupported_not_corrupt_for_a_non_image(odd_client):
    response = odd_client.post("/predict", files={"file": ("notes.txt", b"hello, not an image")})
    assert response.status_code == 415
    assert response.json()["detail"] == "notes.txt: unsupported file type (not an image format yolocls can read)"


BOUNDED_SCAN = """
import sys
from pathlib import Path
from yolocls.data.images import scan_image
if __name__ == "__main__":
    print(scan_image(Path(sys.argv[1])).reason)
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
    print(int(hwm.split()[1]) // 1024)  # this process's peak (ru_maxrss would carry the parent's over exec)
"""


def test_a_crafted_icon_is_refused_with_bounded_memory(tmp_path, odd_client):
    """A 560 kB ICNS declaring 1024x1024 but holding a 12000x12000 PNG (576 MB of RGBA): decoded in the
    memory-capped child, refused there; neither prepare's process nor the server grows."""
    import subprocess
    import sys

    from tests.odd_images import icns_bomb

    bomb = tmp_path / "crafted.icns"
    bomb.write_bytes(icns_bomb())
    script = tmp_path / "scan.py"
    script.write_text(BOUNDED_SCAN)
    out = subprocess.run([sys.executable, str(script), str(bomb)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    reason, peak_mb = out.stdout.strip().splitlines()[-2:]
    assert "larger than declared" in reason, out.stdout + out.stderr
    assert int(peak_mb) < 300, peak_mb  # the caller's own peak (was ~640 MB for this file, 8 GB for larger)
    before = _rss_mb()
    res = odd_client.post("/predict", files={"file": ("crafted.icns", bomb.read_bytes(), "image/icns")})
    assert res.status_code == 413 and "larger than declared" in res.json()["detail"], res.text
    assert _rss_mb() - before < 100


def _rss_mb() -> int:
    return int([ln for ln in open("/proc/self/status") if ln.startswith("VmRSS:")][0].split()[1]) // 1024


def test_postscript_is_never_rendered(odd_client):
    """EPS is decoded by running Ghostscript on the file: refused as a type, whatever is installed."""
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    res = odd_client.post("/predict", files={"file": ("x.eps", eps, "application/postscript")})
    assert res.status_code == 415 and "unsupported file type" in res.json()["detail"]
