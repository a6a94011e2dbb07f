"""Encoders: audio window -> unit vector (+ tags). One interface (base.Encoder), chosen by name.

``analysis.encoder`` in config.toml names one of :data:`ENCODERS`. Modules are imported only when
an encoder is asked for, so commands that never embed (``livedj devices``) never load torch.
"""
from __future__ import annotations

import os
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


#: encoders built on a booth head file (``head`` is passed to them, ignored for the others)
HEADED = frozenset({"musicnn-booth"})


def get_encoder(name: str, threads: int | None = None, *, head: str | os.PathLike | None = None):
    """A ready encoder instance (weights loaded); ``head``: the booth head file of a headed encoder."""
    cls = _class(name)
    kwargs: dict = {} if threads is None else {"threads": threads}
    if head is not None and name in HEADED:
        kwargs["head"] = head
    return cls(**kwargs)


def _describe(name: str, head: str | os.PathLike | None = None) -> tuple[str, int]:
    cls = _class(name)
    if name in HEADED:  # the version depends on a file (the booth head)
        return cls.describe(head)
    if hasattr(cls, "VERSION") and hasattr(cls, "DIM"):
        return cls.VERSION, int(cls.DIM)
    encoder = get_encoder(name)  # the version is only known once built
    return encoder.version, int(encoder.dim)


def encoder_id(name: str, head: str | os.PathLike | None = None) -> str:
    """``name/version``: stored with every vector, checked when an index is loaded."""
    return f"{name}/{_describe(name, head)[0]}"


def encoder_dim(name: str, head: str | os.PathLike | None = None) -> int:
    return _describe(name, head)[1]
