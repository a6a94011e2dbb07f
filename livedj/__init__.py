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

#: when this process imported livedj (start-up time is measured from here)
STARTED = _time.monotonic()
