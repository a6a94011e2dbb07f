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


def _private_folder(path: str) -> bool:
    """Whether ``path`` is (or was just made) a folder of this user's that nobody else can write: numba's
    cache holds pickled code, so a shared temporary folder must not hold one another user made."""
    import stat

    try:
        _os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        st = _os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == _os.getuid() and not st.st_mode & 0o022
            and _writable_folder(path))


def numba_cache_dir(environ, package: str) -> tuple[str | None, str | None]:
    """Where numba's cache of the compiled kernels should go: ``(folder, note)``.

    numba caches them (livedj's, librosa's: ``cache=True``) in ``$NUMBA_CACHE_DIR``, else beside their
    source (``__pycache__``), else in ``$XDG_CACHE_HOME/numba`` (~/.cache/numba); where none of them can be
    written (a read-only site-packages run by a user without a writable home, e.g. a system service's
    user, or a ``$NUMBA_CACHE_DIR`` that is not writable) it raised "cannot cache function ...: no locator
    available" at import. ``folder``: a folder to set as ``$NUMBA_CACHE_DIR`` (None: leave numba be);
    ``note``: one line for the user when a place they may expect is not used (None: nothing to say)."""
    import tempfile

    user_set = environ.get("NUMBA_CACHE_DIR")
    if user_set and _writable_folder(user_set):
        return None, None
    unusable = f"NUMBA_CACHE_DIR={user_set} cannot be written" if user_set else None
    if _writable_folder(_os.path.join(package, "__pycache__")):
        return None, unusable and f"{unusable}: compiled loops are cached beside livedj's code instead"
    user = environ.get("XDG_CACHE_HOME") or _os.path.expanduser("~/.cache")
    # no home (HOME unset, a user without one): "~/.cache" comes back as it is, a folder in the current one
    if not user.startswith("~") and _writable_folder(_os.path.join(user, "numba")):
        return None, unusable and f"{unusable}: compiled loops are cached in {_os.path.join(user, 'numba')} instead"
    why = unusable or (f"neither {_os.path.join(package, '__pycache__')} nor {_os.path.join(user, 'numba')} "
                       "can be written")
    try:
        base = tempfile.gettempdir()
    except OSError:  # no temporary folder either (FileNotFoundError): numba will not cache at all
        return None, f"{why}, nor a temporary folder: set NUMBA_CACHE_DIR to a writable folder"
    uid = _os.getuid() if hasattr(_os, "getuid") else 0
    kept = _os.path.join(base, f"livedj-numba-{uid}")  # kept between runs: compiled once, not every start
    if _private_folder(kept):
        return kept, f"{why}: compiled loops are cached in {kept} (set NUMBA_CACHE_DIR to choose)"
    try:
        folder = tempfile.mkdtemp(prefix="livedj-numba-")
    except OSError:
        return None, f"{why}, nor a temporary folder: set NUMBA_CACHE_DIR to a writable folder"
    import atexit
    import shutil

    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder, (f"{why}: compiled loops are cached in {folder} for this run only "
                    "(set NUMBA_CACHE_DIR to keep them)")


def _numba_cache_fallback() -> None:
    """Sets ``$NUMBA_CACHE_DIR`` where :func:`numba_cache_dir` says and says why on stderr. The worker
    processes inherit the folder (or the unwritable one unset) and have nothing to say. Must run before numba
    is first imported."""
    folder, note = numba_cache_dir(_os.environ, _os.path.dirname(__file__))
    if folder:
        _os.environ["NUMBA_CACHE_DIR"] = folder
    elif note and _os.environ.get("NUMBA_CACHE_DIR"):
        del _os.environ["NUMBA_CACHE_DIR"]  # numba passes over an unwritable one itself; unset, workers say nothing
    if note:
        import sys

        print(f"livedj: {note}", file=sys.stderr)


_numba_cache_fallback()

#: when this process imported livedj (start-up time is measured from here)
STARTED = _time.monotonic()
