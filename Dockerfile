# syntax=docker/dockerfile:1
# Two targets:
#   serve (default, last stage): ONNX Runtime + the serving code; no torch, no Ultralytics; non-root.
#     docker build -t yolocls-serve .
#     docker run -p 8000:8000 -v "$PWD/runs/NAME:/models/run:ro" -e YOLOCLS_MODEL=/models/run yolocls-serve
#   studio: the train image running `yolocls studio` (Ray jobs, HTTP API on 8080, state in the /data volume).
#     docker build --target studio -t yolocls-studio .
#     docker run -p 8080:8080 --shm-size=2g -e YOLOCLS_API_KEY=... -v "$PWD/studio-data:/data" yolocls-studio
#   train: torch (CUDA) + Ultralytics + the whole CLI, for GPU hosts.
#     docker build --target train -t yolocls-train .
#     docker run --gpus all --ipc=host -v "$PWD/datasets:/work/datasets" -v "$PWD/runs:/work/runs" yolocls-train \
#       yolocls train --data datasets/NAME --preset small-fast
# BASE_IMAGE lets machines without registry access build against a local Debian + Python 3.11 base.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# ---------- serve: dependency layer, then the package without its training dependencies ----------
FROM base AS serve-build
# A venv works on both the official image and Debian's python3 (which refuses system-wide pip installs).
RUN python3 -m venv /opt/venv && pip install --upgrade pip
COPY docker/requirements-serve.txt /tmp/requirements-serve.txt
RUN pip install --no-compile -r /tmp/requirements-serve.txt
COPY pyproject.toml README.md /src/
COPY yolocls /src/yolocls
# No pip/setuptools in the final image: nothing installs packages at run time.
RUN pip install --no-compile --no-deps /src && pip uninstall -y -q setuptools pip

# ---------- train: torch + Ultralytics + OpenCV's system libraries ----------
FROM base AS train
RUN python3 -m venv /opt/venv && pip install --upgrade pip
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
# Dependency layer first (cached while only the code changes): everything pyproject.toml lists.
COPY pyproject.toml README.md /src/
RUN mkdir -p /src/yolocls && touch /src/yolocls/__init__.py && pip install /src && pip uninstall -y yolocls
COPY yolocls /src/yolocls
# drop the stub's build leftovers, or setuptools would package the stub instead of the real code
RUN rm -rf /src/build /src/*.egg-info && pip install --no-deps /src
ENV YOLO_CONFIG_DIR=/tmp/ultralytics YOLO_OFFLINE=true YOLO_AUTOINSTALL=false \
    YOLOCLS_WEIGHTS_DIR=/weights MPLBACKEND=Agg
WORKDIR /work
# Data loaders need shared memory: run with --ipc=host or --shm-size=8g.
CMD ["yolocls", "--help"]

# ---------- studio: the train image + the service (Ray is a package dependency) ----------
FROM train AS studio
# State (datasets/, runs/, models/, studio.db) lives in the /data volume. Binding 0.0.0.0 needs
# YOLOCLS_API_KEY (or --insecure). Ray needs shared memory: run with --shm-size=2g or more.
ENV YOLOCLS_HOME=/data YOLOCLS_STUDIO_HOST=0.0.0.0 YOLOCLS_STUDIO_PORT=8080
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"
CMD ["yolocls", "studio"]

# ---------- serve (default target) ----------
FROM base AS serve
# OpenCV (headless) needs glib; the official slim image lacks it.
RUN if ! ldconfig -p | grep -q libglib-2.0.so.0; then apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 && rm -rf /var/lib/apt/lists/*; fi
COPY --from=serve-build /opt/venv /opt/venv
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin yolocls && mkdir -p /models
# Bake a model in with:  docker build --build-arg MODEL=models/model.onnx .   (a path inside the build context)
ARG MODEL=
RUN --mount=type=bind,source=.,target=/ctx \
    if [ -n "$MODEL" ]; then cp "/ctx/$MODEL" /models/model.onnx; fi
ENV YOLOCLS_MODEL=/models/model.onnx YOLOCLS_HOST=0.0.0.0 YOLOCLS_PORT=8000
USER yolocls
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python3 -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('YOLOCLS_PORT', '8000'), timeout=4)"
CMD ["yolocls", "serve"]
