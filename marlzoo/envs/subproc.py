"""Env copies stepped in worker processes, for envs whose step is slow (multiwalker, pistonball).

:class:`SubprocVectorEnv` is the :class:`~marlzoo.envs.batched.BatchedEnv` contract over ``W`` worker
processes, each holding a contiguous block of the ``n`` adapters (``env.n_workers``). Every array
lives in one block of shared memory: the parent's public arrays and each worker's adapters are views
of it (:meth:`Adapter.bind`), so a step moves no array through a pipe. Per step, the parent writes the
actions and the active mask, sends each worker that has an active copy a one-word message, and waits
for its one-word reply. Adapters are independent, so the same seeds give the same arrays as
:class:`~marlzoo.envs.vector.VectorEnv`, to the bit.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import pickle
import signal
import sys
import traceback
from contextlib import contextmanager
from multiprocessing import connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from marlzoo.envs.adapter import Adapter
from marlzoo.envs.batched import apply_time_limit, check_reset_mask, check_rows_finite, check_time_limit
from marlzoo.envs.vector import env_code_error
from marlzoo.errors import EnvCodeError, UserError

CLOSE_TIMEOUT = 3.0  # seconds a worker gets to exit before it is terminated, then killed


class WorkerDiedError(UserError):
    """A worker process ended while the parent waited for it (killed, out of memory, a crash in C code)."""


class _Layout:
    """Named arrays packed into one buffer: ``{name: (shape, dtype)}`` -> offsets, 64-byte aligned."""

    def __init__(self, fields: dict[str, tuple[tuple[int, ...], str]]) -> None:
        self.fields, self.offsets, size = fields, {}, 0
        for name, (shape, dtype) in fields.items():
            self.offsets[name] = size
            size += -(-math.prod(shape) * np.dtype(dtype).itemsize // 64) * 64
        self.size = max(size, 64)

    def views(self, buffer: Any) -> dict[str, np.ndarray]:
        return {name: np.ndarray(shape, dtype, buffer=buffer, offset=self.offsets[name])
                for name, (shape, dtype) in self.fields.items()}


def _attach(name: str) -> SharedMemory:
    return SharedMemory(name=name)


def _error_reply(exc: BaseException, i: int, phase: str, t: int) -> tuple:
    """What a worker sends when copy ``i`` raised ``exc``: the exception itself when it survives
    pickling, else its type's name and message; and the worker's traceback."""
    try:
        pickle.loads(pickle.dumps(exc))
        sent: Any = exc
    except Exception:
        sent = (type(exc).__name__, str(exc))
    return ("error", isinstance(exc, UserError), i, phase, t, sent, traceback.format_exc())


def _worker_main(conn: Any, make_env: Callable[[], Adapter], lo: int, hi: int) -> None:
    """A worker: build copies ``lo..hi-1``, then serve reset and step requests until told to close."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes the workers
    envs: list[Adapter] = []
    shm: list[SharedMemory] = []
    code = 0
    try:
        _serve_forever(conn, make_env, lo, hi, envs, shm)
    except (EOFError, BrokenPipeError):
        pass  # the parent went away: nothing left to answer
    except BaseException:
        traceback.print_exc()
        code = 1
    for env in envs:
        try:
            env.close()
        except Exception:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything this worker holds is closed: skip the interpreter's teardown, which takes seconds
    # here (C-level finalisation of the env's modules), so that close() returns at once.
    os._exit(code)


def _serve_forever(conn: Any, make_env: Callable[[], Adapter], lo: int, hi: int, envs: list[Adapter],
                   shm: list[SharedMemory]) -> None:
    try:
        envs.extend(make_env() for _ in range(lo, hi))
    except BaseException as exc:
        conn.send(_error_reply(exc, lo + len(envs), "factory", 0))
        return
    first = envs[0]
    conn.send(("ready", first.spec, {k: (getattr(first, k).shape, getattr(first, k).dtype.str)
                                     for k in ("obs", "state", "avail", "alive")}))
    arrays: dict[str, np.ndarray] = {}
    actions = np.zeros(0)
    while True:
        message = conn.recv()
        kind = message[0]
        if kind == "close":
            return
        if kind == "attach":
            shm.append(_attach(message[1]))
            arrays = message[2].views(shm[-1].buf)
            for j, env in enumerate(envs):
                i = lo + j
                env.bind(arrays["obs"][i], arrays["state"][i], arrays["avail"][i], arrays["alive"][i])
            conn.send(("ok",))
        elif kind == "actions":  # a new buffer for actions of another shape or dtype
            shm.append(_attach(message[1]))
            actions = np.ndarray(message[2], message[3], buffer=shm[-1].buf)
            conn.send(("ok",))
        else:
            conn.send(_serve(kind, message, envs, lo, arrays, actions))


def _serve(kind: str, message: tuple, envs: list[Adapter], lo: int, arrays: dict[str, np.ndarray],
           actions: np.ndarray) -> tuple:
    """Reset (``("reset", {i: seed})``) or step (``("step",)``) this worker's copies; the reply."""
    i, phase = lo, kind
    try:
        if kind == "reset":
            for i, seed in message[1].items():
                envs[i - lo].reset(seed=seed)
                arrays["t"][i] = envs[i - lo].t
        else:
            active = arrays["active"]
            for j, env in enumerate(envs):
                i = lo + j
                if active[i]:
                    arrays["reward"][i], arrays["terminated"][i], arrays["truncated"][i] = env.step(actions[i])
                    arrays["t"][i] = env.t
        return ("ok",)
    except Exception as exc:
        return _error_reply(exc, i, phase, envs[i - lo].t)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while workers start, so a spawned interpreter inherits that from its first instruction."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class SubprocVectorEnv:
    """``n`` adapters stepped in ``n_workers`` worker processes: the
    :class:`~marlzoo.envs.batched.BatchedEnv` contract (which describes the arrays), for any env an
    adapter runs. ``make_env`` must pickle (a module-level function or a :func:`functools.partial`
    of one): each worker is a fresh interpreter (``spawn``) that builds its own copies with it.

    Worker ``w`` holds a contiguous block of copies (``np.array_split`` of ``range(n)``; at most ``n``
    workers start). An exception from the env's code is the one line :class:`VectorEnv` gives; a
    worker that dies is one line too (:class:`WorkerDiedError`). :meth:`close` ends every worker within
    a few seconds, whatever state it is in.
    """

    def __init__(self, make_env: Callable[[], Adapter], n: int, n_workers: int, time_limit: str = "truncate") -> None:
        self.time_limit = check_time_limit(time_limit)
        try:
            pickle.dumps(make_env)
        except Exception:
            raise UserError("env.n_workers > 1 builds the env in worker processes, which needs a factory that "
                            "pickles (a module-level function or functools.partial of one); use env.n_workers=0") from None
        self._n = n
        self._closed = False
        self._shm: list[SharedMemory] = []
        self.blocks = [(int(b[0]), int(b[-1]) + 1) for b in np.array_split(np.arange(n), min(n_workers, n))]
        self.env_id = getattr(make_env, "args", ("the env",))[0]
        context = mp.get_context("spawn")  # a fresh interpreter: forking a process that runs torch is unsafe
        self._conns, self._procs = [], []
        try:
            with _sigint_ignored():
                for w, (lo, hi) in enumerate(self.blocks):
                    parent, child = context.Pipe()
                    proc = context.Process(target=_worker_main, args=(child, make_env, lo, hi), daemon=True,
                                           name=f"marlzoo-env-worker-{w}")
                    proc.start()
                    child.close()
                    self._conns.append(parent)
                    self._procs.append(proc)
            replies = self._gather(range(len(self.blocks)), "start")
            _, self.spec, shapes = replies[0]
            self.env_id = self.spec.env_id
            self._layout = _Layout({**{k: ((n, *shape), dtype) for k, (shape, dtype) in shapes.items()},
                                    "reward": ((n,), "float32"), "terminated": ((n,), "bool"),
                                    "truncated": ((n,), "bool"), "active": ((n,), "bool"), "t": ((n,), "int64")})
            self._shm.append(SharedMemory(create=True, size=self._layout.size))
            arrays = self._layout.views(self._shm[0].buf)
            for array in arrays.values():
                array.fill(0)
            for name in ("obs", "state", "avail", "alive", "reward", "terminated", "truncated"):
                setattr(self, name, arrays[name])
            self._active, self._t = arrays["active"], arrays["t"]
            self._actions = np.zeros(0)
            self._broadcast(("attach", self._shm[0].name, self._layout), "start")
        except BaseException:
            self.close()
            raise

    @property
    def n(self) -> int:
        """The number of copies."""
        return self._n

    @property
    def worker_pids(self) -> list[int]:
        """The worker processes' ids, in block order (for benchmarks that read their CPU time)."""
        return [proc.pid for proc in self._procs]

    @property
    def envs(self) -> list[Adapter]:
        """Not available: the adapters live in the worker processes."""
        raise UserError(f"env '{self.env_id}': its copies live in {len(self.blocks)} worker processes "
                        "(env.n_workers > 1), so they cannot be reached one by one; use env.n_workers=0 for this")

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A marker, not the copies' state: their adapters live in the workers, which do not record
        how each copy reached its state. A checkpoint still holds everything else (the networks for
        ``marlzoo eval``); :meth:`load_state_dict` refuses to resume from it."""
        return {"not_resumable": f"its env copies stepped in {len(self.blocks)} worker processes (env.n_workers > 1)"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Refused in one line: see :meth:`state_dict`."""
        why = state.get("not_resumable", "its env state was saved by another backend")
        raise UserError(f"this run cannot be resumed exactly: {why}, and their state is not checkpointed; "
                        "start it again with env.n_workers=0 to make it resumable")

    # ------------------------------------------------------------------ the contract
    def reset(self, seeds: Sequence[int | None]) -> None:
        """Reset copy ``i`` with ``seeds[i]`` (None: it continues its own random stream), and zero
        every copy's ``reward``, ``terminated`` and ``truncated``."""
        self._reset(np.ones(self.n, dtype=bool), seeds)
        self.reward.fill(0.0)
        self.terminated.fill(False)
        self.truncated.fill(False)

    def reset_where(self, mask: np.ndarray, seeds: Sequence[int | None] | None = None) -> None:
        """Reset the copies where ``mask`` (bool, ``[n]``) is true and zero their ``reward``,
        ``terminated`` and ``truncated``; the other copies' rows are left as they are."""
        mask = check_reset_mask(mask, seeds, self.n)
        self._reset(mask, seeds)
        self.reward[mask] = 0.0
        self.terminated[mask] = False
        self.truncated[mask] = False

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Step the copies where ``active`` is true, copy ``i`` with ``actions[i]``; the others keep
        their last arrays."""
        actions = np.asarray(actions)
        if actions.shape != self._actions.shape or actions.dtype != self._actions.dtype:
            self._new_actions_buffer(actions.shape, actions.dtype)
        self._actions[...] = actions
        self._active[:] = active
        busy = [w for w, (lo, hi) in enumerate(self.blocks) if self._active[lo:hi].any()]
        for w in busy:
            self._conns[w].send(("step",))
        self._gather(busy, "step")
        apply_time_limit(self, self._active, self.time_limit)
        check_rows_finite(self, self._active, "step", lambda i: int(self._t[i]))

    def close(self) -> None:
        """End every worker (asked first, then terminated, then killed) and free the shared memory;
        safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        for conn in self._conns:
            try:
                conn.send(("close",))
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            proc.join(CLOSE_TIMEOUT)
            if proc.is_alive():
                proc.terminate()
                proc.join(CLOSE_TIMEOUT)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        for block in self._shm:
            block.unlink()
            try:
                block.close()
            except BufferError:  # a caller still holds views of the arrays: the mapping goes with them
                pass

    def __del__(self) -> None:
        if hasattr(self, "_closed"):
            try:
                self.close()
            except Exception:  # at interpreter exit, what close() needs may already be gone
                pass

    # ------------------------------------------------------------------ plumbing
    def _reset(self, mask: np.ndarray, seeds: Sequence[int | None] | None) -> None:
        busy = []
        for w, (lo, hi) in enumerate(self.blocks):
            chosen = {int(i): None if seeds is None else seeds[i] for i in np.flatnonzero(mask[lo:hi]) + lo}
            if chosen:
                self._conns[w].send(("reset", chosen))
                busy.append(w)
        self._gather(busy, "reset")
        check_rows_finite(self, mask, "reset", lambda i: int(self._t[i]))

    def _new_actions_buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        block = SharedMemory(create=True, size=max(math.prod(shape) * dtype.itemsize, 1))
        self._shm.append(block)
        self._actions = np.ndarray(shape, dtype, buffer=block.buf)
        self._broadcast(("actions", block.name, shape, dtype.str), "step")

    def _broadcast(self, message: tuple, phase: str) -> None:
        for conn in self._conns:
            conn.send(message)
        self._gather(range(len(self._conns)), phase)

    def _gather(self, workers: Sequence[int] | range, phase: str) -> list[tuple]:
        """Each worker's reply, in order; a worker's error or death raises its one line (after every
        reply is in, so the pipes stay in step)."""
        waiting = {w: None for w in workers}
        replies: dict[int, tuple] = {}
        sentinels = {self._procs[w].sentinel: w for w in waiting}
        conns = {self._conns[w]: w for w in waiting}
        failure: BaseException | None = None
        while waiting:
            for ready in connection.wait([*conns, *sentinels]):
                w = conns.get(ready, sentinels.get(ready))
                if w not in waiting:
                    continue
                if ready in conns or self._conns[w].poll():
                    try:
                        replies[w] = self._conns[w].recv()
                    except (EOFError, ConnectionResetError):  # which one depends on when the worker died
                        replies[w] = ("died",)
                else:
                    replies[w] = ("died",)
                del waiting[w]
                if replies[w][0] != "ok" and failure is None and replies[w][0] != "ready":
                    failure = self._failure(w, replies[w], phase)
        if failure is not None:
            raise failure
        return [replies[w] for w in workers]

    def _failure(self, w: int, reply: tuple, phase: str) -> BaseException:
        if reply[0] == "died":
            self._procs[w].join(CLOSE_TIMEOUT)
            code = self._procs[w].exitcode
            how = f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exited with code {code}"
            lo, hi = self.blocks[w]
            return WorkerDiedError(f"env '{self.env_id}': worker process {w} (copies {lo}-{hi - 1}) {how} during "
                                   f"{phase}, so the run stopped (out of memory, a crash in the env's C code, or "
                                   "killed from outside?); env.n_workers=0 steps the env in this process")
        _, is_user, i, where, t, sent, remote_traceback = reply
        if isinstance(sent, BaseException) and is_user:
            return sent
        if isinstance(sent, BaseException):
            exc = sent
        else:
            name, text = sent
            exc = (UserError if is_user else type(name, (Exception,), {}))(text)
            if is_user:
                return exc
        exc.add_note(f"in worker process {w}:\n{remote_traceback}")
        if where == "factory":
            error = EnvCodeError(self.env_id, "factory", exc)
        else:
            error = env_code_error(self.env_id, where, i, t, exc)
        error.__cause__ = exc
        return error
