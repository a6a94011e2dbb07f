"""livedj: listens at the DJ booth and suggests the next record, live."""
import time as _time

#: when this process imported livedj (start-up time is measured from here)
STARTED = _time.monotonic()
