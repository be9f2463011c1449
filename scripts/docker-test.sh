#!/usr/bin/env bash
# `make docker-test`: build the Dockerfile's serve target with buildah (no Docker engine needed), start it
# with a model trained and exported from the bundled sample, POST an image, check the JSON and /health.
#   BASE_IMAGE=localhost/python-base:3.11-bookworm (made by scripts/oci-base.sh when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
Y=".venv/bin/yolocls"; PY=".venv/bin/python"
BASE_IMAGE="${BASE_IMAGE:-localhost/python-base:3.11-bookworm}"
TAG="${TAG:-localhost/yolocls:serve-test}"
WORK=$(mktemp -d)
CONTAINER=""
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true
  [ -n "$CONTAINER" ] && buildah rm "$CONTAINER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
step() { printf '\n==> %s\n' "$*"; }

if ! buildah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep -qx "$BASE_IMAGE"; then
  step "building the local base image $BASE_IMAGE"
  bash scripts/oci-base.sh "$BASE_IMAGE"
fi

step "a small model from the bundled sample (prepare -> train -> export)"
$Y prepare datasets/sample --out "$WORK/data" > /dev/null
$Y train --data "$WORK/data" --runs-dir "$WORK/runs" --name served --imgsz 64 --epochs 8 --batch 16 \
  --set warmup_epochs=0 --no-report --quiet --no-pretrained
$Y export "$WORK/runs/served" | tail -2

step "buildah bud --target serve"
buildah bud --isolation chroot --network host --layers --build-arg BASE_IMAGE="$BASE_IMAGE" --target serve \
  -t "$TAG" . | tail -3
SIZE=$(buildah inspect --format '{{.FromImageID}}' "$TAG" >/dev/null 2>&1; buildah images --format '{{.Size}}' "$TAG" | head -1)
echo "image $TAG: $SIZE"

step "no torch / Ultralytics in the serve image"
CONTAINER=$(buildah from "$TAG")
buildah run --isolation chroot "$CONTAINER" -- python3 -c \
  "import importlib.util as u; bad=[m for m in ('torch','ultralytics') if u.find_spec(m)]; assert not bad, bad; print('ok: no torch, no ultralytics')"
buildah run --isolation chroot "$CONTAINER" -- sh -c 'id -un'

step "start the server in the image (model mounted at /models/run)"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
buildah run --isolation chroot --network host -v "$WORK/runs/served:/models/run:ro" \
  --env YOLOCLS_MODEL=/models/run --env YOLOCLS_PORT="$PORT" --env YOLOCLS_HOST=127.0.0.1 \
  "$CONTAINER" -- yolocls serve > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$PORT/health" || { echo "server did not start"; cat "$WORK/serve.log"; exit 1; }
echo
IMAGE=$(ls "$WORK"/data/test/Trouser/* | head -1)
RESPONSE=$(curl -sf -F "file=@$IMAGE" "http://127.0.0.1:$PORT/predict")
echo "$RESPONSE"
echo "$RESPONSE" | $PY -c '
import json, sys
body = json.load(sys.stdin)
p = body["predictions"][0]
assert {"filename", "class", "class_id", "confidence", "top"} <= set(p), p
assert len(body["model"]["sha256"]) == 64 and body["time_ms"] > 0
print("ok: /predict answered", p["class"], round(p["confidence"], 3))'
echo "docker-test passed; serve image size: $SIZE"
