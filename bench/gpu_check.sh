#!/usr/bin/env bash
# GPU paths on a machine with CUDA and no package index: wheels carried in .wheels/ (see README, Benchmarks).
# Trains small-fast at 320 px on the bundled sample on CUDA, exports, predicts, serves one request, then runs
# bench/openset.py at 320 px. Usage: bash bench/gpu_check.sh OUT_DIR
set -euo pipefail
out=${1:-/tmp/gpu-check}
mkdir -p "$out"
# into the machine's own python3 (it has torch, torchvision, opencv, onnxruntime, pandas and their dependencies)
python3 -m pip install -q --no-index --no-deps .wheels/*.whl
python3 -m pip install -q --no-deps --no-build-isolation -e .
export YOLO_OFFLINE=1
yolocls() { python3 -m yolocls "$@"; }
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$out/gpu.txt"
yolocls prepare datasets/sample --out datasets/sample-gpu > "$out/prepare.txt"
time yolocls train --data datasets/sample-gpu --preset small-fast --epochs 10 --name gpu --no-pretrained \
  > "$out/train.txt" 2> "$out/train.err" || { tail -30 "$out/train.err"; exit 1; }
cp runs/gpu/run.json runs/gpu/epochs.jsonl "$out/"
yolocls export runs/gpu | tee "$out/export.txt"
yolocls predict datasets/sample-gpu/test/Trouser/*.png --model runs/gpu --no-abstain | head -3 | tee "$out/predict.txt"
python3 -c "import onnxruntime as o; print('onnxruntime providers:', o.get_available_providers())" | tee -a "$out/predict.txt"
yolocls serve --model runs/gpu --port 8123 > "$out/serve.txt" 2>&1 &
for i in $(seq 60); do curl -sf localhost:8123/ready >/dev/null && break; sleep 0.5; done
img=$(ls datasets/sample-gpu/test/Trouser/*.png | head -1)
curl -s -F "file=@$img" localhost:8123/predict | tee "$out/serve-predict.json"; echo
kill %1 || true
if [ -f bench/_work/openset-src.tgz ]; then mkdir -p bench/_work/openset && tar -C bench/_work/openset -xzf bench/_work/openset-src.tgz; fi
python3 bench/openset.py --source bench/_work/openset/src --imgsz 320 --epochs 10 --preset small-fast \
  | tee "$out/openset.txt"
cp bench/_work/openset/runs/fm7/report/openset.json bench/_work/openset/runs/fm7/report/risk_coverage.png "$out/"
