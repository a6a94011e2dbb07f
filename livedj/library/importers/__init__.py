"""Read the library as the DJ's own software knows it: rekordbox XML, Traktor NML, Mixxx's database.

Every reader is pure (it never writes) and returns ``(tracks, problems)``: ``tracks`` is a list of
:class:`ImportedTrack`, ``problems`` a list of ``(where, why)`` pairs for every entry or field that
was skipped. A bad entry never stops the import; a file that cannot be read at all (missing,
not well-formed XML, not a Mixxx database) raises :class:`LibraryImportError` with a one-line
message naming the file.

Whether a track's file exists is for the caller to check and report: readers return the path
they were given, exactly as the DJ software stores it (``os.fsdecode`` form).
"""
from __future__ import annotations

from livedj.library.importers.common import ImportedTrack, LibraryImportError
from livedj.library.importers.mixxxdb import default_mixxx_db, read_mixxx_library
from livedj.library.importers.rekordbox import location_to_path, path_to_location, read_rekordbox_xml
from livedj.library.importers.traktor import TRAKTOR_KEYS, read_traktor_nml

__all__ = [
    "ImportedTrack", "LibraryImportError", "read_rekordbox_xml", "read_traktor_nml", "read_mixxx_library",
    "default_mixxx_db", "location_to_path", "path_to_location", "TRAKTOR_KEYS",
]
