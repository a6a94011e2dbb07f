"""livedj: listens at the DJ booth and suggests the next record, live."""
import os as _os
import time as _time

# One BLAS thread: numpy's OpenBLAS workers otherwise keep spinning after the log-mel matrix
# product and take both cores from torch's threads -- a musicnn pass then cost ~86 ms instead of
# ~40 ms on the 2-core box (measured). Must be set before numpy is first imported.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

#: when this process imported livedj (start-up time is measured from here)
STARTED = _time.monotonic()
