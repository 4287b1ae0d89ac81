"""An ordered map over worker processes: the same results, in input order, as a loop in one process.

:func:`ordered_map` hands items to ``workers`` spawned processes. Each process calls ``setup()`` once (loading a
model, say) and then ``work(state, item)`` for each item it gets; results come back in the order of the items.
At most ``in_flight`` items per worker are handed out and not yet yielded, so memory stays bounded whatever the
length of the input; a worker starts only when there is an item for it. An error in a worker is raised in the
parent when its item's turn comes (a :class:`CstoolError` as it is, anything else with the worker's traceback);
a worker that dies is an error naming how; closing the generator early, or Ctrl-C in the parent, stops them.
``setup`` and ``work`` must be picklable (module-level functions, ``functools.partial`` of them).
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cstool.base.errors import CstoolError

POLL_S = 0.5
_END = object()


def portable(error: BaseException, where: str) -> BaseException:
    """``error`` as it can cross to the parent process: a CstoolError as it is (one line + hint there), anything
    else, a bug, as a RuntimeError that carries the worker's traceback."""
    if isinstance(error, CstoolError):
        try:
            pickle.dumps(error)
            return error
        except Exception:
            return CstoolError(error.message, error.hint)
    return RuntimeError(f"in a {where} process:\n" + "".join(traceback.format_exception(error)))


def _serve(setup: Callable[[], Any], work: Callable[[Any, Any], Any], where: str, tasks: Any, results: Any) -> None:
    """Body of a worker process: ``setup()`` once, then (sequence number, item) tasks until None. Ctrl-C is the
    parent's to handle; a worker whose parent has gone away stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    try:
        state, failure = setup(), None
    except Exception as e:
        state, failure = None, portable(e, where)
    while True:
        try:
            task = tasks.get(timeout=POLL_S)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return
            continue
        if task is None:
            return
        seq, item = task
        try:
            if failure is not None:
                raise failure
            results.put((seq, work(state, item), None))
        except Exception as e:
            results.put((seq, None, portable(e, where)))


def ordered_map(
    items: Iterable[Any],
    *,
    setup: Callable[[], Any],
    work: Callable[[Any, Any], Any],
    workers: int,
    in_flight: int = 2,
    name: str = "worker",
    death_hint: str = "it may have run out of memory: use fewer workers",
) -> Iterator[Any]:
    """``work(setup(), item)`` for each item, computed in ``workers`` processes, yielded in input order.

    ``name`` names the processes (``cstool-NAME-i``) and the errors ("a NAME process stopped unexpectedly");
    ``death_hint`` is the hint of that error.
    """
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    procs: list[Any] = []
    source = iter(items)
    finished = False
    try:
        done: dict[int, tuple[Any, BaseException | None]] = {}
        sent = written = 0
        more = True
        while True:
            while more and sent - written < in_flight * workers:
                item = next(source, _END)
                if item is _END:
                    more = False
                    break
                if len(procs) < workers and len(procs) <= sent:
                    proc = ctx.Process(
                        target=_serve,
                        args=(setup, work, name, tasks, results),
                        name=f"cstool-{name.replace(' ', '-')}-{len(procs)}",
                        daemon=True,
                    )
                    proc.start()
                    procs.append(proc)
                tasks.put((sent, item))
                sent += 1
            if written == sent:
                break
            while written not in done:
                try:
                    seq, out, error = results.get(timeout=POLL_S)
                except queue.Empty:
                    dead = [p.exitcode for p in procs if not p.is_alive()]
                    if dead:
                        how = f"killed by signal {-dead[0]}" if dead[0] < 0 else f"exit code {dead[0]}"
                        raise CstoolError(f"a {name} process stopped unexpectedly ({how})", death_hint) from None
                    continue
                done[seq] = (out, error)
            out, error = done.pop(written)
            if error is not None:
                raise error
            written += 1
            yield out
        finished = True
    finally:
        if finished:  # every result is in: let the workers end (one still in its setup is not waited for)
            for _ in procs:
                tasks.put(None)
            for p in procs:
                p.join(timeout=POLL_S * 4)
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
        for q in (tasks, results):
            q.cancel_join_thread()
            q.close()
