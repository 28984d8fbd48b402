"""A small supervised process pool: work that may crash or hang its process (OCR) runs in workers
that are watched, and one bad worker costs one task, never the pool.

concurrent.futures.ProcessPoolExecutor marks itself broken for good when one worker dies (killed, out
of memory): every later task fails until the program restarts. Here a supervisor thread hands each
worker one task at a time and watches both its answer and its process. A worker that dies, or takes
longer than `timeout` on a task (it is then killed), is replaced by a fresh one; its task is tried
again `retries` times on a fresh worker and then fails alone with WorkerLost. Tasks queued behind it
go on as before.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

IDLE_WAKE_SECONDS = 1.0  # how often the supervisor looks at the workers when nothing else wakes it
STOP_SECONDS = 2.0  # a worker asked to stop gets this long before it is killed


class WorkerLost(RuntimeError):
    """The task's worker died or hung, also on the retry; the message says which."""


@dataclass
class _Task:
    fn: Callable
    args: tuple
    future: Future
    attempts: int = 0


@dataclass
class _Worker:
    process: Any  # multiprocessing's Process of the chosen context
    conn: Connection
    task: _Task | None = None
    started: float = field(default=0.0)  # when the current task was handed over (monotonic)


class WorkerPool:
    def __init__(
        self,
        workers: int,
        initializer: Callable | None = None,
        initargs: tuple = (),
        timeout: float | None = None,
        retries: int = 1,
        context: str = "spawn",
    ):
        """timeout: seconds one task may take before its worker counts as hung (None: no limit).
        context: spawn by default; forking a process that runs torch's thread pools can deadlock."""
        self._size = max(1, workers)
        self._initializer, self._initargs = initializer, initargs
        self._timeout, self._retries = timeout, retries
        self._context: Any = multiprocessing.get_context(context)
        self._queue: collections.deque[_Task] = collections.deque()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._supervisor: threading.Thread | None = None
        self._stopping = False
        self.replaced = 0  # workers that died or hung and were replaced (for logs and tests)

    # -- the caller's side ---------------------------------------------------------------------
    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        with self._lock:
            if self._stopping:
                raise RuntimeError("the worker pool is shut down")
            self._queue.append(_Task(fn, args, future))
            if self._supervisor is None:
                self._supervisor = threading.Thread(target=self._supervise, name="worker-pool", daemon=True)
                self._supervisor.start()
        self._wake()
        return future

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._workers]

    def shutdown(self, cancel_futures: bool = True) -> None:
        """Stop the workers; tasks not finished fail (cancelled if they had not started)."""
        with self._lock:
            self._stopping = True
            supervisor = self._supervisor
        self._wake()
        if supervisor is not None:
            supervisor.join()
        with self._lock:
            for task in self._queue:
                task.future.cancel()
            self._queue.clear()
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker.task is not None:
                _fail(worker.task, RuntimeError("the worker pool was shut down"))
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # shut down, or the buffer is full of wake-ups already
            self._wake_writer.send(b"x")

    # -- the supervisor ------------------------------------------------------------------------
    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                self._hand_out()
                busy = [w for w in self._workers if w.task is not None]
                watched = [self._wake_reader, *[w.conn for w in busy], *[w.process.sentinel for w in self._workers]]
            ready = set(wait(watched, timeout=self._next_deadline(busy)))
            if self._wake_reader in ready:
                try:
                    while self._wake_reader.recv(4096):
                        pass
                except BlockingIOError:
                    pass
            with self._lock:
                for worker in list(self._workers):
                    self._check(worker, ready)

    def _next_deadline(self, busy: list[_Worker]) -> float:
        if self._timeout is None or not busy:
            return IDLE_WAKE_SECONDS
        due = min(w.started for w in busy) + self._timeout - time.monotonic()
        return max(0.0, min(IDLE_WAKE_SECONDS, due))

    def _hand_out(self) -> None:
        """Start workers up to the pool's size while there is work, and give each idle one a task."""
        while len(self._workers) < self._size and self._queue:
            self._workers.append(self._start())
        for worker in self._workers:
            while worker.task is None and self._queue:
                task = self._queue.popleft()
                if task.attempts == 0 and not task.future.set_running_or_notify_cancel():
                    continue  # cancelled while it waited
                try:
                    worker.conn.send((task.fn, task.args))
                except OSError:  # the worker is already gone: the task waits for its replacement
                    self._queue.appendleft(task)
                    break
                except Exception as exc:  # the task cannot be sent (not picklable): its own failure
                    _fail(task, exc)
                    continue
                worker.task, worker.started = task, time.monotonic()

    def _check(self, worker: _Worker, ready: set) -> None:
        """Take the worker's answer, or replace it if it died or hung."""
        if worker.task is not None and worker.conn in ready:
            try:
                outcome, value = worker.conn.recv()
            except (EOFError, OSError):
                pass  # died while answering: handled below as a death
            else:
                task, worker.task = worker.task, None
                if outcome == "ok":
                    task.future.set_result(value)
                else:
                    _fail(task, value)
                return
        hung = (worker.task is not None and self._timeout is not None
                and time.monotonic() - worker.started > self._timeout)
        if not hung and worker.process.is_alive():
            return
        if hung:
            worker.process.kill()
        worker.process.join()
        why = (f"took longer than {self._timeout:g} s and was stopped" if hung
               else f"died (exit code {worker.process.exitcode})")
        self._workers.remove(worker)
        worker.conn.close()
        self.replaced += 1
        if worker.task is not None:
            task = worker.task
            task.attempts += 1
            if task.attempts <= self._retries:
                self._queue.appendleft(task)  # first in line for the fresh worker
            else:
                tries = "once" if task.attempts == 1 else f"on each of {task.attempts} tries"
                _fail(task, WorkerLost(f"its worker process {why} {tries}"))
        if self._queue:
            self._workers.append(self._start())

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(theirs, self._initializer, self._initargs),
                                        name="pool-worker", daemon=True)
        process.start()
        theirs.close()  # only the child holds its end: the child's death shows as EOF here
        return _Worker(process, ours)


def _fail(task: _Task, error: BaseException) -> None:
    if not task.future.done():
        task.future.set_exception(error)


def _serve(conn: Connection, initializer: Callable | None, initargs: tuple) -> None:
    """A worker: run the tasks sent, one at a time, until told to stop or the parent is gone."""
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent died or closed the pool
            return
        if message is None:
            return
        fn, args = message
        try:
            answer = ("ok", fn(*args))
        except Exception as exc:
            answer = ("error", exc)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an answer that cannot be pickled
            conn.send(("error", RuntimeError(f"the task's answer could not be sent back: {exc}")))
