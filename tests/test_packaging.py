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
    # --ignore-installed: the livedj this environment has (scripts/setup's `pip install -e`) is seen through
    # the .pth; without it pip said "already installed with the same version" and installed nothing
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--ignore-installed", "-q", str(wheel)], check=True, capture_output=True, text=True)

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


def test_compiled_kernels_load_where_no_cache_folder_can_be_written(tmp_path):
    """An installed livedj in a read-only site-packages, run by a user whose home is absent or
    read-only (systemd/README.md's system user: `sudo -u livedj ... livedj index`): numba had no
    place for the cache its kernels ask for (``cache=True``) and every command that imports one
    died at import with "RuntimeError: cannot cache function ...: no locator available".

    ``__pycache__`` made a file and the home and cache under a file: nothing can be created there,
    not even by root (permissions alone do not stop root)."""
    package = tmp_path / "src" / "livedj"
    shutil.copytree(REPO / "livedj", package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("")
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    (tmp_path / "tmp").mkdir()  # the fallback folder goes under $TMPDIR: this test's, not /tmp
    env.update(PYTHONPATH=str(tmp_path / "src"), HOME=str(blocked / "home"), XDG_CACHE_HOME=str(blocked / "cache"),
               TMPDIR=str(tmp_path / "tmp"))
    code = ("import numpy as np, livedj.library.fpvote, livedj.library.fpkeys, livedj.library.fpsame\n"
            "from livedj.dsp import fpkernels\n"
            "assert fpkernels.COMPILED\n"
            "t = np.array([0.0, 0.1, 0.2]); p = np.array([1.0, 3.0, 2.0])\n"
            "print(fpkernels.window_rank_counts(t, p, 1.0).tolist())\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[0] == "[2, 0, 1]"  # compiled and run, not just imported


def test_the_build_uses_no_deprecated_metadata(tmp_path):
    """setuptools warned that `project.license` as a TOML table ({ text = "MIT" }) is deprecated and that
    "by 2027-Feb-18 ... your builds will no longer be supported": `pip install .` and the wheel would stop
    building. The metadata is prepared as pip's build would (the backend, no network)."""
    source = tmp_path / "src"
    shutil.copytree(REPO / "livedj", source / "livedj", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (source / "models").mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, source / name)
    (tmp_path / "meta").mkdir()
    run = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c",
                          "import sys; from setuptools import build_meta as b; "
                          "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))", str(tmp_path / "meta")],
                         cwd=source, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "deprecated" not in (run.stdout + run.stderr).lower(), run.stdout[-3000:] + run.stderr[-3000:]
    metadata = next((tmp_path / "meta").glob("*.dist-info/METADATA")).read_text()
    assert "License-Expression: MIT" in metadata or "License: MIT" in metadata
