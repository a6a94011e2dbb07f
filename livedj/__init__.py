"""livedj: listens at the DJ booth and suggests the next record, live."""
import os as _os
import time as _time

# One BLAS thread: numpy's OpenBLAS workers otherwise keep spinning after the log-mel matrix
# product and take both cores from torch's threads -- a musicnn pass then cost ~86 ms instead of
# ~40 ms on the 2-core box (measured). Must be set before numpy is first imported.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# The same for torch's OpenMP team: libgomp sizes it to the cores when torch is imported, and
# after torch.set_num_threads(1) the spare thread still burned a core (musicnn: 186 ms wall,
# 369 ms CPU per 15 s; two indexing workers stole each other's core). Starting at one thread,
# torch.set_num_threads(n) still grows the team to ``analysis.threads`` (measured: 2 threads work).
_os.environ.setdefault("OMP_NUM_THREADS", "1")


def _writable_folder(path: str) -> bool:
    """Whether ``path`` is (or can be made) a folder a file can be created in -- numba's own test."""
    import tempfile

    try:
        _os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def _numba_cache_fallback() -> None:
    """numba caches the compiled kernels (livedj's, librosa's: ``cache=True``) beside their source, else
    in ``$XDG_CACHE_HOME/numba`` (~/.cache/numba); where neither can be written (a read-only
    site-packages run by a user without a writable home, e.g. a system service's user) it raised
    "cannot cache function" at import. Then a private temporary folder, removed at exit, holds it.
    Must run before numba is first imported; ``$NUMBA_CACHE_DIR`` set by the user is kept."""
    if _os.environ.get("NUMBA_CACHE_DIR"):
        return
    if _writable_folder(_os.path.join(_os.path.dirname(__file__), "__pycache__")):
        return
    user = _os.environ.get("XDG_CACHE_HOME") or _os.path.expanduser("~/.cache")
    if _writable_folder(_os.path.join(user, "numba")):
        return
    import atexit
    import shutil
    import tempfile

    try:
        folder = tempfile.mkdtemp(prefix="livedj-numba-")
    except OSError:
        return  # no temporary folder either: numba says so itself
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    _os.environ["NUMBA_CACHE_DIR"] = folder


_numba_cache_fallback()

#: when this process imported livedj (start-up time is measured from here)
STARTED = _time.monotonic()
