"""The one error of the library's on-disk files: the index (or a part of it) cannot be used."""
from __future__ import annotations


class IndexUnusable(Exception):
    """The index cannot be used; ``str()`` is one line naming the directory/file and why."""
