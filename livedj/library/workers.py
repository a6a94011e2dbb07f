"""Worker processes that survive one of them dying, and never outlive their parent.

:func:`imap_unordered` runs ``fn(item)`` for every item in a pool of spawned processes and yields
results as they finish. When a worker dies (the OOM killer's SIGKILL, a segfault in a decoder),
:class:`~concurrent.futures.ProcessPoolExecutor` fails every pending task with
``BrokenProcessPool``; here the pool is started again, the item the dead worker was working on
is given up (``lost(item, why)`` stands in for its result, naming it), and every other item is
resubmitted. Which item that was: each worker announces ``(pid, item)`` before it starts one,
and the dead worker is the one whose exit code is neither 0 nor the SIGTERM the executor sends
the survivors. When that cannot be told (the dead one was itself sent SIGTERM), every item in a
started worker gets a strike and an item with two strikes is given up.

Each worker asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG`` on Linux;
elsewhere a thread polls the parent's pid), so a killed `livedj index` leaves no 300-MB workers
behind.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

PR_SET_PDEATHSIG = 1
MAX_STRIKES = 2
MAX_BARREN = 3  #: pools in a row that die before starting anything: the workers cannot run here

_STARTED = None  # worker side: the queue on which a worker announces the item it starts


class WorkersFailed(Exception):
    """The pool cannot run at all (workers die before they start any item)."""


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when ``parent_pid`` (its parent) dies, however the parent dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # the parent died before the request was in place
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=poll, name="livedj-parent-watch", daemon=True).start()


def _init(parent_pid: int, started, initializer, initargs) -> None:
    global _STARTED
    die_with_parent(parent_pid)
    _STARTED = started
    if initializer is not None:
        initializer(*initargs)


def _call(fn: Callable, item):
    _STARTED.put((os.getpid(), item))  # SimpleQueue: written to the pipe before fn runs
    return fn(item)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "its worker process died"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ": out of memory?" if -code == signal.SIGKILL else ""
        return f"its worker process was killed by {name}{hint}"
    return f"its worker process exited with status {code}"


def imap_unordered(fn: Callable, items: Iterable, *, jobs: int, mp_context, lost: Callable[[object, str], object],
                   initializer: Callable | None = None, initargs: tuple = (), in_flight: int | None = None
                   ) -> Iterator:
    """``fn(item)`` for every item, in ``jobs`` worker processes, yielded in order of completion.

    Parameters
    ----------
    fn : callable
        A picklable module-level function of one item.
    items : iterable
        Picklable items (each one is named in messages, so keep them short: paths).
    jobs : int
        Worker processes.
    mp_context : multiprocessing context
        ``get_context("spawn")`` for workers that must not inherit thread pools or handles.
    lost : callable
        ``lost(item, why)`` is yielded in place of ``fn(item)`` when the worker running it died.
    initializer, initargs
        Run once in every worker, as for :class:`~concurrent.futures.ProcessPoolExecutor`.
    in_flight : int, optional
        Items submitted at a time (default ``4 * jobs``): memory stays bounded for any library.
    """
    in_flight = in_flight or 4 * jobs
    queue = iter(items)
    retry: deque = deque()
    strikes: dict = {}
    barren = 0  # pools in a row that broke before any worker started an item
    while True:
        # A queue per pool: a worker the executor terminates while it announces an item dies holding
        # the queue's lock, and every worker of a later pool sharing that queue would wait on it forever.
        started = mp_context.SimpleQueue()
        pool = ProcessPoolExecutor(jobs, mp_context=mp_context, initializer=_init,
                                   initargs=(os.getpid(), started, initializer, initargs))
        pending: dict = {}
        any_started = False

        def submit_next() -> bool:
            item = retry.popleft() if retry else next(queue, _END)
            if item is _END:
                return False
            try:
                future = pool.submit(_call, fn, item)
            except BrokenProcessPool:  # the pool broke since the last wait: the item runs in the next one
                retry.appendleft(item)
                raise
            pending[future] = item
            return True

        try:
            while len(pending) < in_flight and submit_next():
                pass
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    result = fut.result()  # BrokenProcessPool when any worker died
                    any_started = True
                    del pending[fut]
                    yield result
                    submit_next()
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)  # no waiting for ~0.4 s of torch teardown each
            _reap_later(processes)
            return
        except BrokenProcessPool:
            processes = dict(getattr(pool, "_processes", None) or {})
            pool.shutdown(wait=True, cancel_futures=True)  # joins the workers: their exit codes are known
            by_pid: dict = {}
            while not started.empty():
                pid, item = started.get()
                by_pid[pid] = item
            started.close()
            running = {pid: item for pid, item in by_pid.items() if item in pending.values()}
            any_started = any_started or bool(by_pid)
            culprits = {pid: _exit_reason(p.exitcode) for pid, p in processes.items()
                        if pid in running and p.exitcode not in (0, -signal.SIGTERM)}
            if not culprits:  # cannot tell which one: strike every item a worker had started
                for item in running.values():
                    strikes[item] = strikes.get(item, 0) + 1
                    if strikes[item] >= MAX_STRIKES:
                        culprits[next(p for p, i in running.items() if i == item)] = \
                            "its worker process died twice while analysing it"
            barren = 0 if any_started else barren + 1
            if barren >= MAX_BARREN:
                raise WorkersFailed("the worker processes died before analysing any file "
                                    "(out of memory, or the encoder cannot load)") from None
            lost_items = {running[pid] for pid in culprits}
            for pid, why in culprits.items():
                yield lost(running[pid], why)
            for fut, item in pending.items():  # everything else in flight runs again in the new pool
                if item not in lost_items:
                    retry.append(item)


_END = object()
REAP_AFTER_S = 10.0  #: a worker still alive this long after its pool's shutdown is stuck: killed


def _reap_later(processes: list) -> None:
    """Kill the workers of a shut-down pool that have not exited :data:`REAP_AFTER_S` later.

    A worker killed while it held the pool's call-queue lock (an idle worker waits for work holding
    it) leaves the others blocked on that lock forever: they never read their stop sentinel, and the
    interpreter's exit, which joins them, hung `livedj index` after all its work was saved (seen once
    in three runs of ``tests/test_faults_index.py``'s killed-worker test). Done on a daemon thread: the
    healthy case costs no wait.
    """
    def reap() -> None:
        deadline = time.monotonic() + REAP_AFTER_S
        for p in processes:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()

    if processes:
        threading.Thread(target=reap, name="livedj-worker-reaper", daemon=True).start()


def map_files(fn: Callable, items: list, *, jobs: int | None, lost: Callable[[object, str], object]) -> Iterator:
    """``fn(item)`` for every item: in this process for one job or a handful of items (spawning costs
    more than it saves), else in ``jobs`` spawned workers (:func:`imap_unordered`, in order of completion)."""
    import multiprocessing

    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(items) < 4:
        return map(fn, items)
    return imap_unordered(fn, items, jobs=jobs, mp_context=multiprocessing.get_context("spawn"), lost=lost)
