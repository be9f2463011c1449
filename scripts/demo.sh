#!/usr/bin/env bash
# `make demo`: the whole product on the bundled sample: prepare -> train -> report -> export -> serve -> predict.
set -euo pipefail
cd "$(dirname "$0")/.."
Y=".venv/bin/yolocls"
PY=".venv/bin/python"
# Overridable for the end-to-end test, which runs this very script in a temporary folder.
DATA="${DEMO_DATA:-datasets/sample-prepared}"
RUNS="${DEMO_RUNS_DIR:-runs}"
RUN_NAME="demo-$(date +%Y%m%d-%H%M%S)"
n=2; base="$RUN_NAME"; while [ -e "$RUNS/$RUN_NAME" ]; do RUN_NAME="$base-$n"; n=$((n + 1)); done
RUN="$RUNS/$RUN_NAME"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "1/6 environment: .venv is ready ($($PY -c 'import yolocls, ultralytics, torch; print(f"yolocls {yolocls.__version__}, ultralytics {ultralytics.__version__}, torch {torch.__version__}")'))"

step "2/6 prepare: bundled Fashion-MNIST sample (images + labels.csv) -> $DATA"
if [ -f "$DATA/manifest.json" ]; then
  echo "reusing $DATA (delete it to prepare again)"
else
  $Y prepare datasets/sample --out "$DATA"
fi

step "3/6 train: preset small-fast -> $RUN"
if $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "GPU found: the true preset (yolov8n-cls, 320 px, 30 epochs)"
  $Y train --data "$DATA" --preset small-fast --runs-dir "$RUNS" --name "$RUN_NAME" --no-report
else
  OVERRIDES=(--imgsz 64 --epochs "${DEMO_EPOCHS:-15}" --batch 16 --set warmup_epochs=0)
  echo "no GPU: CPU-sized overrides so the demo takes about a minute: ${OVERRIDES[*]}"
  echo "(28x28 Fashion-MNIST images gain nothing from 320 px; on a GPU the demo uses the full preset)"
  $Y train --data "$DATA" --preset small-fast --runs-dir "$RUNS" --name "$RUN_NAME" --no-report "${OVERRIDES[@]}"
fi

step "4/6 report: metrics and confusion matrices on the held-out test split"
$Y report "$RUN"
echo "open $RUN/report/report.html (metrics.json, per_class.csv, predictions.csv, confusion_matrix.csv beside it)"

step "5/6 export to ONNX (with parity check), serve, and POST one held-out image"
$Y export "$RUN"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$Y serve --model "$RUN" --port "$PORT" > "$RUN/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { echo "server failed to start:"; cat "$RUN/serve.log"; exit 1; }
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null || { echo "server not ready after 60 s"; cat "$RUN/serve.log"; exit 1; }
# A held-out test image the model classifies correctly with the highest confidence (from the report).
read -r IMAGE TRUE < <($PY - "$RUN" "$DATA" <<'PYEOF'
import sys, pandas as pd
run, data = sys.argv[1], sys.argv[2]
p = pd.read_csv(f"{run}/report/predictions.csv")
pick = p[p.correct].sort_values("confidence", ascending=False)
row = (pick if len(pick) else p.sort_values("confidence", ascending=False)).iloc[0]
print(f"{data}/{row.path} {row.true}")
PYEOF
)
echo "server on http://127.0.0.1:$PORT (pid $SERVER); image: $IMAGE (true class: $TRUE)"
echo "\$ curl -F file=@$IMAGE http://127.0.0.1:$PORT/predict?top_k=3"
RESPONSE=$(curl -sf -F "file=@$IMAGE" "http://127.0.0.1:$PORT/predict?top_k=3")
echo "$RESPONSE" | $PY -m json.tool
PRED=$(echo "$RESPONSE" | $PY -c 'import json, sys; print(json.load(sys.stdin)["predictions"][0]["class"])')
if [ "$PRED" = "$TRUE" ]; then echo "prediction: $PRED — correct"; else echo "prediction: $PRED — WRONG (true: $TRUE)"; exit 1; fi

step "6/6 what next"
cat <<TXT
- Your own data:   $Y prepare path/to/images_or.zip --name mydata && $Y train --data datasets/mydata --preset small-fast
- On a GPU:        the same command trains the full preset (yolov8n-cls, 320 px); try --preset balanced or accurate
- Compare runs:    $Y runs
- Deploy:          README "Deploy with Docker" (serve image without torch: docker build -t yolocls-serve .)
TXT
