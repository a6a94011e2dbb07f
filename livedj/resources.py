"""Where the shipped model files (musicnn weights, the booth head) are.

``$LIVEDJ_MODELS_DIR`` when set (an override), else inside the installed package: a wheel carries
them as package data, ``livedj/models/`` (see setup.py), found through importlib.resources; else
the checkout's top-level ``models/``, the source of truth, which an editable install reads in place.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

MODELS_ENV = "LIVEDJ_MODELS_DIR"
REPO_MODELS = Path(__file__).resolve().parents[1] / "models"


def model_path(name: str) -> Path:
    """The path of the model file ``name`` (e.g. "musicnn_msd.safetensors"); it may not exist."""
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override) / name
    packaged = files("livedj").joinpath("models", name)
    if packaged.is_file():  # an installed wheel (pip unpacks it: a real file on disk)
        return Path(os.fspath(packaged))
    return REPO_MODELS / name
