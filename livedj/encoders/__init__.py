"""Encoders: audio window -> unit vector (+ tags). One interface (base.Encoder), chosen by name.

``analysis.encoder`` in config.toml names one of :data:`ENCODERS`. Modules are imported only when
an encoder is asked for, so commands that never embed (``livedj devices``) never load torch.
"""
from __future__ import annotations

from importlib import import_module

#: name -> (module, class). Each class has class attributes NAME, VERSION and DIM.
ENCODERS = {
    "musicnn": ("livedj.encoders.musicnn", "MusicnnEncoder"),
    "features": ("livedj.encoders.descriptors", "FeaturesEncoder"),
}


def _class(name: str):
    try:
        module, cls = ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}") from None
    return getattr(import_module(module), cls)


def get_encoder(name: str, threads: int | None = None):
    """A ready encoder instance (weights loaded)."""
    cls = _class(name)
    return cls(threads=threads) if threads is not None else cls()


def encoder_id(name: str) -> str:
    """``name/version``: stored with every vector, checked when an index is loaded."""
    cls = _class(name)
    return f"{cls.NAME}/{cls.VERSION}"


def encoder_dim(name: str) -> int:
    return int(_class(name).DIM)
