"""Encoders: audio window -> unit vector (+ tags). One interface (base.Encoder), chosen by name.

``analysis.encoder`` in config.toml names one of :data:`ENCODERS`. Modules are imported only when
an encoder is asked for, so commands that never embed (``livedj devices``) never load torch.
"""
from __future__ import annotations

from importlib import import_module

#: name -> (module, class)
ENCODERS = {
    "musicnn": ("livedj.encoders.musicnn", "MusicnnEncoder"),
    "features": ("livedj.encoders.descriptors", "FeaturesEncoder"),
    "musicnn-booth": ("livedj.encoders.adapted", "AdaptedEncoder"),  # musicnn + the booth head
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


def _describe(name: str) -> tuple[str, int]:
    cls = _class(name)
    if hasattr(cls, "describe"):  # the version depends on a file (the booth head)
        return cls.describe()
    if hasattr(cls, "VERSION") and hasattr(cls, "DIM"):
        return cls.VERSION, int(cls.DIM)
    encoder = get_encoder(name)  # the version is only known once built
    return encoder.version, int(encoder.dim)


def encoder_id(name: str) -> str:
    """``name/version``: stored with every vector, checked when an index is loaded."""
    return f"{name}/{_describe(name)[0]}"


def encoder_dim(name: str) -> int:
    return _describe(name)[1]
