"""The package's shape is checked, not hoped for: import contracts, module and function sizes, no torch in serving."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "yolocls"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
LONG_REASON = "# long:"  # a function over the limit says why on the line above its `def`


def _lint_imports() -> str:
    exe = Path(sys.executable).parent / "lint-imports"
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports (import-linter) is not installed; `pip install -e .[dev]`")
    return found


def test_import_contracts_are_kept():
    """Layers import downwards only; inference/ and serving/ never reach torch, Ultralytics, sklearn, pandas."""
    out = subprocess.run([_lint_imports()], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_every_subpackage_is_in_the_layers_contract():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {name.strip() for c in config["contracts"] if c["type"] == "layers"
               for layer in c["layers"] for name in layer.split("|")}
    subpackages = {f"yolocls.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages <= layered, f"sub-packages missing from the layers contract: {subpackages - layered}"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_small_and_documented(path: Path):
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines; split it (limit {MAX_MODULE_LINES})"
    if path.name != "__main__.py" and text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{path}: a module opens with a one-line docstring saying its job"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_long_functions_say_why(path: Path):
    source = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(source))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            reason = source[first - 2].strip().startswith(LONG_REASON) if first >= 2 else False
            assert length <= MAX_FUNCTION_LINES or reason, (
                f"{path.name}:{node.lineno} {node.name}() has {length} lines; split it or write "
                f"'{LONG_REASON} <why>' above it")


def test_the_run_folder_layout_is_spelled_in_one_module():
    """core/runlayout.py owns a run folder's file names: no other module has them as string literals."""
    import ast

    from yolocls.core import runlayout

    names = {v for k, v in vars(runlayout).items() if k.isupper() and isinstance(v, str)} - {"weights", "report"}
    owner = Path(runlayout.__file__).resolve()
    found = []
    for path in (Path(runlayout.__file__).resolve().parent.parent).rglob("*.py"):
        if path.resolve() == owner:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert not found, found


GLOBALS_PROBE = """
import importlib, json, logging, os, pkgutil, sys, warnings
import cv2, numpy, pandas, PIL.Image, sklearn.metrics, pydantic, fastapi  # what the libraries do on import themselves
env, pixels, filters = dict(os.environ), PIL.Image.MAX_IMAGE_PIXELS, list(warnings.filters)
handlers, level = list(logging.getLogger().handlers), logging.getLogger().level
import yolocls
for m in pkgutil.walk_packages(yolocls.__path__, "yolocls."):
    if m.name not in ("yolocls.__main__", "yolocls.training.trainer") and ".migrations" not in m.name:
        importlib.import_module(m.name)
print(json.dumps({"env": sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k)),
                  "pixels": PIL.Image.MAX_IMAGE_PIXELS == pixels, "filters": list(warnings.filters) == filters,
                  "logging": logging.getLogger().handlers == handlers and logging.getLogger().level == level}))
"""


def test_importing_yolocls_changes_no_global_state():
    """Every module imported (but the trainer, which imports Ultralytics): no environment variable, Pillow limit,
    warnings filter or root logging setting changes; entry points set what their programs need."""
    import json
    import os

    out = subprocess.run([sys.executable, "-c", GLOBALS_PROBE], capture_output=True, text=True, cwd=REPO,
                         env={k: v for k, v in os.environ.items() if not k.startswith("OPENCV_IO")}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"env": [], "pixels": True, "filters": True,
                                                               "logging": True}
