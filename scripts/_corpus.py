"""The decode-and-skip loop the measurement scripts share (not shipped behaviour).

Every fit script must see the same tracks in the same order, so that their caches line up row by
row; that is why the skip rules live here once.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from livedj.audio.decode import DecodeError, decode
from livedj.dsp.level import first_sound

SR = 16000  #: musicnn's sample rate
W = 80000  #: one 5-s window at SR


def corpus_audio(files: list[tuple[str, str]], sr: int = SR,
                 window: int = W) -> Iterator[tuple[int, str, str, np.ndarray, int]]:
    """Decode each ``(path, label)`` of ``files``; yield ``(i, path, label, audio, start)``.

    ``start`` is the first sound's sample. A file that does not decode, or has less than 3 s plus
    one ``window`` after its first sound, is skipped with a line on stdout.
    """
    for i, (path, label) in enumerate(files):
        try:
            audio = decode(path, sr, 0.0, 1200.0)
        except DecodeError as exc:
            print("skip", path, exc.reason, flush=True)
            continue
        start = int(first_sound(audio[:60 * sr], sr) * sr)
        if len(audio) - start < 3 * sr + window:
            print("skip short", path, flush=True)
            continue
        yield i, path, label, audio, start
