"""The metadata store: one SQLite file (WAL) in the index directory.

It holds one row per library file (path, size, mtime, tags, BPM/key *with their source*, the
song-beginning vector) and survives a crash at any moment: every indexed file is committed on
its own, so a re-run resumes where the last one stopped. Paths are stored as the raw bytes the
file system gave (``os.fsencode``), so names that are not UTF-8 round-trip exactly.
"""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from livedj.library import copies, sqlite_uri
# the schema, its upgrade and the bad-row check live in store_schema; BAD_ROWS, SCHEMA_VERSION and bad_rows
# are still read from here
from livedj.library.store_schema import BAD_ROWS, SCHEMA_VERSION, bad_rows, columns, create_or_upgrade  # noqa: F401
from livedj.library.tags import tag_text


def encode_path(path: str | os.PathLike | bytes) -> bytes:
    return os.fsencode(path)


def display_path(raw: bytes) -> str:
    """A printable form of a stored path on one line (undecodable bytes and control characters as ``\\xNN``)."""
    from livedj.fsutil import printable

    return printable(os.fsdecode(raw))


@dataclass
class Track:
    id: int
    path: str  #: os.fsdecode form: opens the file even when the name is not UTF-8
    title: str
    artist: str
    album: str
    duration: float | None
    bpm: float | None
    bpm_source: str | None
    key: int | None
    key_source: str | None
    #: livedj's own key analysis (issue 17): the calibrated confidence of ``key`` (None: the key came from
    #: a tag or the DJ's software, taken as certain) and the key of the track's end (for mixing out)
    key_confidence: float | None = None
    key_end: int | None = None
    #: the recording this file holds when the library holds it more than once (the lowest track id of
    #: its copies, library/copies.py); None: no copy known
    recording: int | None = None
    #: the paths (os.fsdecode form) this file was indexed under before it moved (library/moves.py):
    #: the set log's plays written under them are plays of this track
    moved_from: tuple[str, ...] = ()


def _landmarks_blob(landmarks: tuple[np.ndarray, np.ndarray] | None) -> bytes | None:
    """A fingerprint as stored: uint32 hashes, then int32 frame times (read back by :meth:`Store.landmarks`)."""
    if landmarks is None:
        return None
    return np.asarray(landmarks[0], dtype=np.uint32).tobytes() + np.asarray(landmarks[1], dtype=np.int32).tobytes()


class StoreError(Exception):
    pass




class Store:
    """Read/write access to ``library.sqlite`` in an index directory."""

    FILENAME = "library.sqlite"

    def __init__(self, directory: str | os.PathLike, readonly: bool = False):
        self.directory = Path(directory)
        self.path = self.directory / self.FILENAME
        if readonly:
            if not self.path.exists():
                raise StoreError(f"{self.path}: no index here (build one with `livedj index`)")
            self.db = sqlite_uri.connect(self.path, timeout=5.0)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across power loss up to the last checkpoint
            create_or_upgrade(self.db)
        try:
            version = self.get_meta("schema_version")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a livedj store ({exc})") from None
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: store schema {version}, this livedj reads {SCHEMA_VERSION}: rebuild the index")
        if readonly and (bad := self.db.execute(f"SELECT count(*) FROM tracks WHERE {bad_rows(self._columns())}").fetchone()[0]):
            raise StoreError(f"{self.path}: {bad} rows with fields of the wrong type; `livedj index` analyses "
                             "their files again")

    def _columns(self) -> set[str]:
        return columns(self.db)

    def set_key_analysis(self, path: str, confidence: float | None, key_end: int | None,
                         key_end_confidence: float | None, *, key_analysis: str | None = None) -> None:
        """Store livedj's key analysis beside ``key``: its confidence, the key of the track's end, and
        which analysis made them (``key_analysis``, :func:`livedj.library.rekey.current_analysis`)."""
        self.db.execute("UPDATE tracks SET key_confidence = ?, key_end = ?, key_end_confidence = ?, key_analysis = ? "
                        "WHERE path = ?", (confidence, key_end, key_end_confidence, key_analysis, encode_path(path)))
        self.db.commit()

    def set_audio_key(self, path: str, key: int, confidence: float | None, key_end: int | None,
                      key_end_confidence: float | None, *, key_analysis: str | None = None) -> None:
        """Replace a key livedj estimated from the audio (never a tag's or the DJ's) and its analysis
        (:mod:`livedj.library.rekey`), recording which analysis (``key_analysis``); committed by the caller."""
        self.db.execute("UPDATE tracks SET key = ?, key_confidence = ?, key_end = ?, key_end_confidence = ?, "
                        "key_analysis = ? WHERE path = ? AND key_source = 'audio'",
                        (int(key), confidence, key_end, key_end_confidence, key_analysis, encode_path(path)))

    def close(self) -> None:
        self.db.close()

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- writing (indexer) ----------------------------------------------------------------
    def fingerprints(self) -> dict[bytes, tuple[int, int, str, str | None, str | None]]:
        """path -> (size, mtime_ns, status, encoder, error) for every stored file."""
        rows = self.db.execute("SELECT path, size, mtime_ns, status, encoder, error FROM tracks")
        return {bytes(r[0]): (r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def put(self, path: str, size: int, mtime_ns: int, *, status: str, error: str | None = None,
            tags: dict | None = None, bpm: float | None = None, bpm_source: str | None = None,
            key: int | None = None, key_source: str | None = None, start_s: float | None = None,
            encoder: str | None = None, vector: np.ndarray | None = None,
            segments: np.ndarray | None = None, segment_hop: float | None = None,
            landmarks: tuple[np.ndarray, np.ndarray] | None = None, fingerprint_params: str | None = None,
            segment_encoder: str | None = None, head_hash: str | None = None) -> None:
        """Insert or replace one file's row and commit (so a crash loses at most this file).

        ``fingerprint_params``: what made ``landmarks`` (None: unknown). What made the key is recorded
        by :meth:`set_key_analysis`, with the rest of the key analysis: until then it is unknown.
        ``head_hash``: :func:`livedj.library.moves.head_hash` of the file (its move is told by it).
        """
        tags = tags or {}
        blob = None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        seg_blob = None if segments is None else np.ascontiguousarray(segments, dtype=np.float32).tobytes()
        fp_blob = _landmarks_blob(landmarks)
        self.db.execute(
            """INSERT INTO tracks (path, size, mtime_ns, status, error, title, artist, album, duration,
                                   bpm, bpm_source, key, key_source, start_s, encoder, vector, segment_hop,
                                   segments, landmarks, indexed_at, fingerprint_params, segment_encoder, head_hash)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,
                 status=excluded.status, error=excluded.error, title=excluded.title, artist=excluded.artist,
                 album=excluded.album, duration=excluded.duration, bpm=excluded.bpm,
                 bpm_source=excluded.bpm_source, key=excluded.key, key_source=excluded.key_source,
                 start_s=excluded.start_s, encoder=excluded.encoder, vector=excluded.vector,
                 segment_hop=excluded.segment_hop, segments=excluded.segments, landmarks=excluded.landmarks,
                 indexed_at=excluded.indexed_at, key_analysis=NULL,
                 fingerprint_params=excluded.fingerprint_params, segment_encoder=excluded.segment_encoder,
                 head_hash=excluded.head_hash""",
            (encode_path(path), size, mtime_ns, status, error, tags.get("title"), tags.get("artist"),
             tags.get("album"), tags.get("duration"), bpm, bpm_source, key, key_source, start_s, encoder,
             blob, segment_hop, seg_blob, fp_blob, time.time(), fingerprint_params,
             segment_encoder if segments is not None else None, head_hash),
        )
        # a path a row moved away from names this file now: its plays are taken for this one (a play
        # names a path, and the path's own file wins wherever paths are mapped to ids anyway)
        self.db.execute("DELETE FROM moves WHERE path = ?", (encode_path(path),))
        self.db.commit()

    def set_landmarks(self, track_id: int, landmarks: tuple[np.ndarray, np.ndarray] | None,
                      params: str | None = None) -> None:
        """Replace one track's fingerprint (hashes, frame times) made with ``params``; None removes it.
        The caller commits."""
        self.db.execute("UPDATE tracks SET landmarks = ?, fingerprint_params = ? WHERE id = ?",
                        (_landmarks_blob(landmarks), params, int(track_id)))

    def set_dj_analysis(self, path: str, track) -> None:
        """Take BPM/key from the DJ's software (an ImportedTrack) for an already indexed file, and its
        title/artist/album where the file's own tags left them empty (a file's own tag is never replaced)."""
        for name in ("title", "artist", "album"):
            if getattr(track, name, None):
                self.db.execute(f"UPDATE tracks SET {name} = ? WHERE path = ? AND ({name} IS NULL OR {name} = '')",
                                (getattr(track, name), encode_path(path)))
        if track.bpm:
            self.db.execute("UPDATE tracks SET bpm = ?, bpm_source = ? WHERE path = ?",
                            (float(track.bpm), track.source, encode_path(path)))
        if track.key is not None:
            self.db.execute("UPDATE tracks SET key = ?, key_source = ? WHERE path = ?",
                            (int(track.key), track.source, encode_path(path)))
            if "key_confidence" in self._columns():  # the DJ's key is taken as certain
                self.db.execute("UPDATE tracks SET key_confidence = NULL, key_end = NULL, key_end_confidence = NULL "
                                "WHERE path = ?", (encode_path(path),))
        self.db.commit()

    def remove(self, raw_paths: Iterable[bytes]) -> int:
        n = 0
        for raw in raw_paths:
            # its former paths go with it: SQLite may give its id to the next file stored
            self.db.execute("DELETE FROM moves WHERE track_id IN (SELECT id FROM tracks WHERE path = ?)", (raw,))
            n += self.db.execute("DELETE FROM tracks WHERE path = ?", (raw,)).rowcount
        self.db.commit()
        return n

    def record_move(self, track_id: int, old: bytes, new: str, head_hash: str | None) -> None:
        """Give row ``track_id`` (stored under ``old``) the path ``new``, keeping everything analysed, and
        remember ``old`` as one of its former paths (library/moves.py). The caller commits.

        ``head_hash``: the moved file's, kept where the row had none (an older livedj's row).
        """
        raw = encode_path(new)
        self.db.execute("UPDATE tracks SET path = ?, head_hash = COALESCE(head_hash, ?) WHERE id = ?",
                        (raw, head_hash, int(track_id)))
        self.db.execute("INSERT OR REPLACE INTO moves (path, track_id, moved_at) VALUES (?, ?, ?)",
                        (bytes(old), int(track_id), time.time()))
        self.db.execute("DELETE FROM moves WHERE path = ?", (raw,))  # moved back: its own path again

    def moved_from(self) -> dict[int, list[str]]:
        """Track id -> the paths (os.fsdecode form) it was stored under before it moved; {} for a store
        made before moves were followed."""
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'moves'").fetchone() is None:
            return {}
        out: dict[int, list[str]] = {}
        for raw, track_id in self.db.execute("SELECT path, track_id FROM moves ORDER BY moved_at"):
            out.setdefault(track_id, []).append(os.fsdecode(bytes(raw)))
        return out

    # -- reading --------------------------------------------------------------------------
    def vectors(self, encoder: str) -> Iterator[tuple[int, np.ndarray]]:
        """(track id, vector) of every good row embedded by ``encoder``."""
        rows = self.db.execute(
            "SELECT id, vector FROM tracks WHERE status = 'ok' AND encoder = ? AND vector IS NOT NULL ORDER BY id",
            (encoder,))
        for track_id, blob in rows:
            yield track_id, np.frombuffer(blob, dtype=np.float32)

    def segments(self, encoder: str, dim: int) -> Iterator[tuple[int, float, np.ndarray]]:
        """(track id, segment hop s, vectors (n, dim)) of every good row embedded by ``encoder``."""
        rows = self.db.execute(
            """SELECT id, segment_hop, segments FROM tracks
               WHERE status = 'ok' AND encoder = ? AND segments IS NOT NULL ORDER BY id""", (encoder,))
        for track_id, hop, blob in rows:
            if len(blob) % (4 * dim) == 0:  # else another encoder's width (an older livedj's row, analysed again)
                yield track_id, float(hop), np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)

    def damaged(self, encoder: str, segment_dim: int) -> set[bytes]:
        """Encoded paths of good rows embedded by ``encoder`` whose stored vectors are not all finite numbers.

        Parameters
        ----------
        encoder : str
            The encoder id of the rows checked (others are analysed again anyway).
        segment_dim : int
            The width of a segment vector.

        Returns
        -------
        set of bytes
            Rows whose beginning vector holds a NaN or infinity, or whose segments hold an
            infinity or a row only partly NaN. An all-NaN segment row is a silent stretch, stored
            so on purpose (track_analysis.segment_vectors): not damage.
        """
        out = set()
        rows = self.db.execute("SELECT path, vector, segments FROM tracks WHERE status = 'ok' AND encoder = ?",
                               (encoder,))
        for raw, blob, seg_blob in rows:
            if blob is not None and not np.isfinite(np.frombuffer(blob, dtype=np.float32)).all():
                out.add(bytes(raw))
            elif seg_blob is not None:
                seg = np.frombuffer(seg_blob, dtype=np.float32)
                if np.isinf(seg).any():
                    out.add(bytes(raw))
                elif segment_dim > 0 and seg.size % segment_dim == 0:  # else another encoder's width: not ours to judge
                    nan = np.isnan(seg.reshape(-1, segment_dim))
                    if (nan.any(axis=1) & ~nan.all(axis=1)).any():
                        out.add(bytes(raw))
        return out

    def landmarks(self, params: str | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(track id, hashes uint32, frame times int32) of every good row with a fingerprint.

        Parameters
        ----------
        params : str, optional
            Only rows whose landmarks were made with these fingerprint parameters (their
            ``fingerprint_params``): a fingerprint index packs no landmarks of another kind (their
            hashes mean something else, and may be too wide for it). None: every row.
        """
        where = "" if params is None else " AND fingerprint_params = ?"
        rows = self.db.execute(
            f"SELECT id, landmarks FROM tracks WHERE status = 'ok' AND landmarks IS NOT NULL{where} ORDER BY id",
            () if params is None else (params,))
        for track_id, blob in rows:
            both = np.frombuffer(blob, dtype=np.uint32)
            n = len(both) // 2
            yield track_id, both[:n], both[n:].view(np.int32)

    def landmarks_of(self, track_id: int, params: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(hashes uint32, frame times int32) of one good row (made with ``params``, when given); empty if none."""
        where = "" if params is None else " AND fingerprint_params = ?"
        row = self.db.execute(f"SELECT landmarks FROM tracks WHERE id = ? AND status = 'ok' AND landmarks IS NOT NULL"
                              f"{where}", (int(track_id), *(() if params is None else (params,)))).fetchone()
        both = np.frombuffer(row[0], dtype=np.uint32) if row else np.zeros(0, np.uint32)
        return both[:len(both) // 2], both[len(both) // 2:].view(np.int32)

    def recordings(self) -> dict[int, int]:
        """Track id -> its recording (the lowest id of its copies), for every track the library holds
        more than once (library/copies.py); {} for a store made before copies were looked for."""
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'copy_pairs'").fetchone() is None:
            return {}
        rows = self.db.execute(
            """SELECT p.a, p.b FROM copy_pairs p
               JOIN tracks ta ON ta.id = p.a AND ta.indexed_at = p.a_at AND ta.status = 'ok'
               JOIN tracks tb ON tb.id = p.b AND tb.indexed_at = p.b_at AND tb.status = 'ok'""")
        return {t: r for r, ids in copies.recordings(rows).items() for t in ids}

    def tracks(self) -> dict[int, Track]:
        """Every good track, by id (the daemon keeps this in memory: no disk on the live path)."""
        extra = ", key_confidence, key_end" if "key_confidence" in self._columns() else ""
        rows = self.db.execute(
            f"""SELECT id, path, title, artist, album, duration, bpm, bpm_source, key, key_source{extra}
               FROM tracks WHERE status = 'ok'""")
        out = {}
        for r in rows:
            path = os.fsdecode(bytes(r[1]))
            title = tag_text(r[2]) or tag_text(Path(path).stem)  # a store written before tag_text may hold controls
            out[r[0]] = Track(r[0], path, title, tag_text(r[3]), tag_text(r[4]), r[5], r[6], r[7], r[8], r[9], *r[10:])
        for track_id, recording in self.recordings().items():
            if track_id in out:
                out[track_id].recording = recording
        for track_id, paths in self.moved_from().items():
            if track_id in out:
                out[track_id].moved_from = tuple(paths)
        return out

    def errors(self) -> list[tuple[str, str]]:
        rows = self.db.execute("SELECT path, error FROM tracks WHERE status = 'error' ORDER BY path")
        return [(display_path(bytes(p)), e or "") for p, e in rows]

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM tracks GROUP BY status")
        return dict(rows.fetchall())
