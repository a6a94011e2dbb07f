"""The wheel a user installs (pip/pipx) carries the model files and runs outside the checkout.

Built from a copy of the sources with the build backend already installed (no build isolation,
no download), installed with --no-deps into a fresh venv that sees this environment's
dependencies through a .pth file (offline: nothing is fetched), then `livedj demo` runs from
another directory with no LIVEDJ_MODELS_DIR: the musicnn weights can only come from the wheel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.mark.slow
def test_wheel_carries_the_models_and_runs_the_demo_outside_the_checkout(tmp_path):
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("livedj", "models"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(wheels), str(source)], check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob("livedj-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for model in ("musicnn_msd.safetensors", "booth_head.safetensors"):
        assert f"livedj/models/{model}" in names, names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = _python_of(venv)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies (torch, numpy, ...) from this environment, after the venv's own packages
    (Path(purelib) / "livedj-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True, text=True)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("LIVEDJ_MODELS_DIR", "PYTHONPATH", "LIVEDJ_BOOTH_HEAD")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    where = subprocess.run([str(python), "-c", "import livedj.resources as r; print(r.__file__); "
                            "print(r.model_path('musicnn_msd.safetensors'))"],
                           cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # installed code, packaged weights
    livedj = venv / ("Scripts/livedj.exe" if os.name == "nt" else "bin/livedj")
    run = subprocess.run([str(livedj), "demo", "--fast", "--no-dashboard", "--duration", "8"], cwd=elsewhere,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"suggestions"' in run.stdout  # JSON lines with suggestions came out
    assert not (elsewhere / "models").exists() and not any(Path(p).is_relative_to(REPO) for p in where)
