"""Where replications run: in process, on a local process pool, or on a Dask cluster.

Every backend is a :class:`concurrent.futures.Executor`, so the sweep has one code path and
never branches on the backend (the way EMAworkbench's evaluators are interchangeable). This
module only opens and closes them:

- :class:`SerialExecutor` runs each task inline when it is submitted (one process, no pickling:
  the reference the parallel runs must reproduce bit for bit);
- :func:`local_executor` is the one local factory: ``None`` (in process) when one process is
  enough, else a :func:`local_pool` of ``min(workers or cores, cores, tasks)`` processes; the
  command line's ``run``, ``compare``, ``report`` and ``sensitivity`` call it directly;
  :func:`when_workers_started` lets a caller use the time the parent then waits (the command line
  imports its table's modules meanwhile);
- :func:`open_executor` with ``workers`` opens that local executor a :class:`~concurrent.futures.ProcessPoolExecutor`;
  with ``scheduler="tcp://host:8786"`` it connects to an existing Dask distributed scheduler and
  uses ``Client.get_executor()``; with ``dask_local=True`` it starts a
  ``distributed.LocalCluster`` on this machine (for its dashboard).

Nothing here touches the network unless the caller names a scheduler or asks for a local Dask
cluster, which listens on the loopback address only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from toctou_sim.core.limits import local_cores, terminal_text, worker_count
from toctou_sim.spec.model import SpecError

__all__ = [
    "CONNECT_TIMEOUT",
    "ExecutorHandle",
    "SerialExecutor",
    "capacity",
    "listening",
    "local_cores",
    "local_executor",
    "local_pool",
    "open_executor",
    "progress_sink",
    "when_workers_started",
]

P = ParamSpec("P")
T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a Dask scheduler before reporting it unreachable."""


class SerialExecutor(Executor):
    """Runs each task in the calling thread at submission and returns a completed future.

    An exception raised by the task is stored in its future, exactly as a pool would report it.
    """

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` now; the returned future is already done."""
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


_SINK: Callable[[float], None] | None = None
"""Where a replication running in this process reports its progress (see :func:`listening`)."""
_COUNTERS: dict[int, Any] = {}
"""Each open local pool's shared progress counter (a ``multiprocessing.Value``), by ``id(pool)``."""


def progress_sink() -> Callable[[float], None] | None:
    """The callback a replication running in this process reports its progress to, if any."""
    return _SINK


def _shared_adder(counter: Any) -> Callable[[float], None]:
    def add(amount: float) -> None:
        with counter.get_lock():
            counter.value += amount

    return add


@contextmanager
def listening(executor: Executor | None, progress: Callable[[float], None]) -> Iterator[bool]:
    """While the block runs, replications report their progress to ``progress`` as they go:
    in this process directly, from a local pool's workers through the pool's shared counter
    (read four times a second by a thread here). Yields True when ``executor`` cannot report
    within a replication (a Dask cluster): the caller then reports each replication as it returns.
    """
    global _SINK
    if executor is None or isinstance(executor, SerialExecutor):
        saved, _SINK = _SINK, progress
        try:
            yield False
        finally:
            _SINK = saved
        return
    counter = _COUNTERS.get(id(executor))
    if counter is None:
        yield True
        return
    import threading

    stop = threading.Event()
    seen = counter.value

    def poll() -> None:
        nonlocal seen
        while True:
            finished = stop.wait(0.25)
            value = counter.value
            if value > seen:
                progress(value - seen)
                seen = value
            if finished:
                return

    thread = threading.Thread(target=poll, name="toctou-sim progress", daemon=True)
    thread.start()
    try:
        yield False
    finally:
        stop.set()
        thread.join()


def _worker_init(parent: int, counter: Any = None) -> None:
    """Initializer of every local worker process: exit when the parent dies, and report
    replications' progress to the pool's shared ``counter``.

    On Linux the kernel sends the worker SIGTERM when its parent exits, however it exits (SIGKILL
    included: ``prctl(PR_SET_PDEATHSIG)``); the parent's SIGTERM handler (which turns SIGTERM into
    KeyboardInterrupt in the command line) is reset so that signal ends the worker. A parent that
    died before the call is caught by comparing ``getppid()``.
    """
    import signal
    import sys

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent:
        os._exit(1)
    if counter is not None:
        global _SINK
        _SINK = _shared_adder(counter)


class _LocalPool(ProcessPoolExecutor):
    """A process pool that runs callbacks once its worker processes exist (see
    :func:`when_workers_started`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_start: list[Callable[[], None]] | None = []

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Submit as :class:`ProcessPoolExecutor` does; after the first task, run the start callbacks."""
        future = super().submit(fn, *args, **kwargs)
        callbacks, self._on_start = self._on_start, None
        for callback in callbacks or ():
            callback()
        return future


def when_workers_started(executor: Executor | None, callback: Callable[[], None]) -> bool:
    """Have ``callback`` run in this process once ``executor``'s worker processes exist, right
    after its first task is submitted (at once if tasks were submitted already); False, and
    nothing done, when ``executor`` is not a :func:`local_pool` (in process, Dask).

    With the ``fork`` start method a pool forks all its workers at the first submission, so a
    thread the callback starts is never inherited by a worker (forking a process while another of
    its threads holds an import lock can deadlock the child); the parent, which only waits for
    results from then on, can meanwhile prepare what comes after them.
    """
    if not isinstance(executor, _LocalPool):
        return False
    if executor._on_start is None:
        callback()
    else:
        executor._on_start.append(callback)
    return True


def _pool_context() -> Any:
    """The multiprocessing context of local pools: ``fork`` on Linux, whatever Python's default
    there (``forkserver`` from Python 3.14), else the platform's default (``spawn`` on macOS and
    Windows, where forking is unsafe or absent).

    A forked worker starts with everything the parent has imported and loaded (the package, numba,
    the compiled kernel: :func:`~toctou_sim.engines.kernel_driver.warm_up` runs before the pool's
    first task); a spawned one imports them again before its first replication, about 2 s of CPU
    per worker (measured, flash sale), which is more than the Quickstart's replications
    altogether."""
    import multiprocessing
    import sys

    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


@contextmanager
def local_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers exit with the parent (see :func:`_worker_init`), started by
    :func:`_pool_context`.

    On a normal exit the pool is shut down (running tasks finish); on an exception (an
    interrupt, SIGTERM turned into KeyboardInterrupt) the workers are terminated at once and
    pending tasks cancelled, so nothing is left running.
    """
    context = _pool_context()
    counter = context.Value("d", 0.0)
    pool = _LocalPool(max_workers=workers, mp_context=context, initializer=_worker_init,
                      initargs=(os.getpid(), counter))
    _COUNTERS[id(pool)] = counter
    try:
        yield pool
    except BaseException:
        terminate_pool(pool)
        raise
    finally:
        _COUNTERS.pop(id(pool), None)
    pool.shutdown(wait=True, cancel_futures=True)


def terminate_pool(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes now and cancel what is pending."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():  # pragma: no cover - ignored SIGTERM
            process.kill()


@contextmanager
def local_executor(workers: int | None = None, tasks: int | None = None) -> Iterator[ProcessPoolExecutor | None]:
    """The executor replications run on locally: ``None`` (in this process, no pickling) when one
    process is enough, else a :func:`local_pool` of ``min(workers, cores, tasks)`` processes that
    exit with this one (an interrupt terminates them at once).

    Args:
        workers: processes wanted; ``None`` or 0 means every core this process may use.
        tasks: the tasks there are (no more processes than tasks).

    Raises:
        SpecError: ``workers`` negative or past the limit (the message names ``workers``).
    """
    count = worker_count(workers, tasks)
    if count == 1:
        yield None
        return
    with local_pool(count) as pool:
        yield pool


def capacity(executor: Executor | None) -> int:
    """How many tasks ``executor`` runs at once (its workers or Dask threads), for sizing the
    window of tasks kept in flight; a guess of 8 for executors that do not say."""
    if executor is None or isinstance(executor, SerialExecutor):
        return 1
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, int) and workers > 0:
        return workers
    client = getattr(executor, "_client", None)
    if client is not None:
        try:
            threads = sum(client.nthreads().values())
        except Exception:  # a client that cannot answer: fall back on the guess
            threads = 0
        if threads > 0:
            return int(threads)
    return 8


@dataclass
class ExecutorHandle:
    """An open executor and what to tell the user about it.

    Attributes:
        executor: the executor tasks are submitted to.
        description: e.g. ``2 local processes`` or ``Dask scheduler tcp://10.0.0.5:8786 (16 threads)``.
        dashboard: the Dask dashboard's address, when there is one.
    """

    executor: Executor
    description: str
    dashboard: str | None = None


@contextmanager
def open_executor(
    workers: int | None = None,
    *,
    scheduler: str | None = None,
    dask_local: bool = False,
    connect_timeout: float | None = None,
    tasks: int | None = None,
) -> Iterator[ExecutorHandle]:
    """Open the executor a sweep runs on, and close it (and any cluster it started) on exit.

    Args:
        workers: local processes (``None`` or 0: every core this process may use; 1 runs in
            process), as :func:`local_executor` opens them. With ``dask_local``, the number of Dask
            workers (one thread each).
        scheduler: the address of a running Dask scheduler (``tcp://host:8786``).
        dask_local: start a ``distributed.LocalCluster`` on the loopback address.
        connect_timeout: seconds to wait for ``scheduler`` before giving up (default
            :data:`CONNECT_TIMEOUT`).
        tasks: the tasks there are (local processes are capped at ``min(workers, cores, tasks)``).

    Raises:
        SpecError: conflicting options, Dask not installed, or the scheduler unreachable (the
            message names the parameter: ``scheduler``, ``dask_local``, ``workers``; the command
            line shows its flags).
    """
    if scheduler is not None and dask_local:
        raise SpecError("scheduler and dask_local: give one or the other")
    if scheduler is None and not dask_local:
        with local_executor(workers, tasks) as pool:
            if pool is None:
                yield ExecutorHandle(SerialExecutor(), "1 process (in process)")
            else:
                yield ExecutorHandle(pool, f"{capacity(pool)} local processes")
        return
    if workers is not None and workers < 0:
        raise SpecError(f"workers: must be >= 0 (0: all cores), got {workers}")
    distributed = _import_distributed("scheduler" if scheduler else "dask_local")
    with ExitStack() as stack:
        if scheduler is not None:
            timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
            client = _connect(distributed, scheduler, timeout)
            stack.callback(client.close)
            where = f"Dask scheduler {scheduler}"
        else:
            cluster = distributed.LocalCluster(
                n_workers=workers or local_cores(), threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address="127.0.0.1:8787",
            )
            stack.callback(cluster.close)
            client = distributed.Client(cluster)
            stack.callback(client.close)
            where = "Dask LocalCluster"
        executor = client.get_executor()
        threads = capacity(executor)
        yield ExecutorHandle(executor, f"{where} ({threads} threads)", dashboard=_dashboard(client))


def _import_distributed(option: str) -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the installation
        raise SpecError(f"{option}: needs Dask distributed; install toctou-sim[dask]") from None
    return distributed


def _connect(distributed: Any, address: str, timeout: float) -> Any:
    """A client of the scheduler at ``address``, or one line saying why there is none.

    The connection and the handshake run in a daemon thread under a wall-clock limit of
    ``timeout`` (plus a second): a port that accepts the connection but does not speak Dask's
    protocol (the dashboard's HTTP port, any other server) can neither hang the command nor crash
    it; every failure is the same one line with a hint.
    """
    import threading

    if "://" not in address:
        raise SpecError(f"scheduler {address}: expected an address like tcp://HOST:8786")
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = distributed.Client(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=connect, name="toctou-sim-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    hint = "is this the scheduler port (8786), not the dashboard (8787)?"
    if thread.is_alive():
        raise SpecError(f"scheduler {address}: cannot reach the Dask scheduler (no handshake within "
                        f"{timeout:g}s); {hint}")
    if "error" in box:
        exc = box["error"]
        reason = terminal_text(str(exc).splitlines()[0])[:120] if str(exc) else type(exc).__name__
        raise SpecError(f"scheduler {address}: cannot reach the Dask scheduler within {timeout:g}s "
                        f"({reason}); {hint}")
    return box["client"]


def _dashboard(client: Any) -> str | None:
    try:
        link = client.dashboard_link
    except Exception:  # no dashboard (bokeh missing, or disabled)
        return None
    return str(link) if link else None
