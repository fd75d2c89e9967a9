"""Collection and learning at the same time: a learner process for replay-based algorithms.

With ``learner: process`` (``--set learner=process``), the trainer's process steps the envs and acts
while a second process holds the replay buffer and runs the updates. Each iteration:

1. here, the actor collects collection k with the parameters it has;
2. meanwhile, the learner inserts collection k-1 and runs the updates the schedule grants for it, as inline;
3. the actor waits for the learner, loads the parameters it sends back, and hands it collection k.

So collection k is gathered with the parameters learned from collections up to k-2: a lag of one
collection (8 episodes with 8 env copies), the price of the overlap. Everything else is as inline:
the same updates on the same data, in the same order, and the same seed gives the same metrics.
On two free cores, training then runs at about the speed of collection alone (results/throughput.md).
"""

from __future__ import annotations

import io
import multiprocessing as mp
import pickle
import signal
import traceback
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from marlzoo.rngstate import global_rng_state, object_rng_state, set_global_rng_state, set_object_rng_state
from marlzoo.training.buffers import EpisodeBatch, buffer_state, load_buffer_state
from marlzoo.envs.batched import BatchedEnv
from marlzoo.errors import UserError
from marlzoo.training.guards import check_finite
from marlzoo.training.runner import Collected, EpisodeRunner
from marlzoo.training.schedule import UpdateSchedule

if TYPE_CHECKING:
    from marlzoo.algorithm import ReplayAlgorithm

LEARNER_SEED_OFFSET = 7919


def _to_bytes(state: dict[str, Any]) -> bytes:
    """A state dict as bytes: tensors cross the pipe by value, not as shared-memory handles."""
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


def _from_bytes(blob: bytes) -> dict[str, Any]:
    return torch.load(io.BytesIO(blob), weights_only=True)


def _learner_main(conn: Any, algo_cls: type, spec: Any, algo_config: Any, device: str, seed: int,
                  threads: int, initial_state: bytes) -> None:
    """The learner process: insert each collection it is sent, learn, and send the new state back.

    Messages: ``("learn", fields, t_env, n_updates)``; ``("snapshot", with_buffer)``, answered with
    its algorithm state, buffer and random streams for a checkpoint; ``("restore", blob)``, which
    puts a snapshot back; ``None`` to stop.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):  # the actor stops it: after a checkpoint, on a signal
        signal.signal(signum, signal.SIG_IGN)
    try:
        torch.set_num_threads(threads)
        algo = algo_cls(spec, algo_config, device)
        algo.load_state_dict(_from_bytes(initial_state))
        buffer = algo.make_buffer()
        torch.manual_seed(seed)  # the learner's own stream (replay sampling), from here on
        np.random.seed(seed)
        while True:
            message = conn.recv()
            if message is None:
                return
            if message[0] == "snapshot":
                snapshot = {"algo": algo.state_dict(), "buffer": buffer_state(buffer, message[1]),
                            "rng": global_rng_state(), "algo_rng": object_rng_state(algo)}
                conn.send(("ok", None, _to_bytes(snapshot)))
                continue
            if message[0] == "restore":
                snapshot = _from_bytes(message[1])
                algo.load_state_dict(snapshot["algo"])
                load_buffer_state(buffer, snapshot["buffer"])
                set_global_rng_state(snapshot["rng"])
                set_object_rng_state(algo, snapshot["algo_rng"])
                conn.send(("ok", None, None))
                continue
            _, fields, t_env, n_learn = message
            buffer.insert(EpisodeBatch(**{name: torch.from_numpy(value) for name, value in fields.items()}))
            metrics = algo.learn(buffer, t_env, n_learn) if n_learn else []
            conn.send(("ok", metrics, _to_bytes(algo.state_dict())))
    except BaseException:  # noqa: BLE001 - the actor re-raises it with the learner's traceback
        conn.send(("error", traceback.format_exc(), None))


class ProcessLearnerLoop:
    """The ``episodes`` loop with its learning moved to a second process (see the module docstring)."""

    def __init__(self, algo: "ReplayAlgorithm", venv: BatchedEnv, seed: int, algo_name: str, threads: int) -> None:
        self.algo = algo
        self.runner = EpisodeRunner(venv, seed)
        self.schedule = UpdateSchedule(algo.updates_per_episode)
        self.algo_name = algo_name
        try:
            pickle.dumps(type(algo))
        except (pickle.PicklingError, AttributeError, TypeError):
            raise UserError(
                f"learner=process starts '{algo_name}' in a second process, which must import its class by "
                "module path; an algorithm defined in a notebook or script cannot be, so use learner=inline"
            ) from None
        context = mp.get_context("spawn")  # a fresh interpreter: forking a process that runs torch is unsafe
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_learner_main, daemon=True, name=f"marlzoo-learner-{algo_name}",
            args=(child, type(algo), algo.spec, algo.config, str(algo.device), seed + LEARNER_SEED_OFFSET, threads,
                  _to_bytes(algo.state_dict())),
        )
        self.process.start()
        child.close()
        self.pending = False
        self.held: tuple[Any, ...] | None = None  # the learner's reply, taken early for a checkpoint
        self.t_sent = 0

    def budget_note(self, steps: int) -> str | None:
        """None, as for the inline episodes loop: the last collection's overshoot is not known ahead."""
        return None

    def _reply(self) -> tuple[Any, Any, Any]:
        """The learner's next reply (an error it sends is raised here)."""
        try:
            status, payload, blob = self.conn.recv()
        except EOFError:
            raise RuntimeError(f"the learner process of '{self.algo_name}' ended unexpectedly "
                               f"(exit code {self.process.exitcode})") from None
        if status == "error":
            raise RuntimeError(f"the learner process of '{self.algo_name}' failed:\n{payload}")
        return status, payload, blob

    def _receive(self) -> list[dict[str, float]]:
        """Wait for the learner's last updates, and act with the parameters they produced."""
        if not self.pending:
            return []
        _, metrics, state = self.held or self._reply()
        self.pending, self.held = False, None
        check_finite(metrics, self.algo_name, self.t_sent)
        self.algo.load_state_dict(_from_bytes(state))
        return metrics

    def iterate(self, t_env: int) -> Collected:
        batch, stats = self.runner.run(self.algo, explore=True, t_env=t_env)
        fields = {name: value.cpu().numpy().copy() for name, value in batch.tensors().items()}
        metrics = self._receive()
        self.conn.send(("learn", fields, t_env + stats.steps, self.schedule.updates_for(len(stats.returns))))
        self.t_sent = t_env
        self.pending = True
        return Collected(stats.steps, stats.returns, stats.lengths, metrics)

    def finish(self) -> list[dict[str, float]]:
        """Apply the updates still in flight (before a final evaluation or checkpoint)."""
        return self._receive()

    def state_dict(self, with_buffer: bool = True) -> dict[str, Any]:
        """The actor's env copies and schedule, and the learner's snapshot after the collection in
        flight: its reply is taken now and held until the next iteration would have taken it, so a
        checkpoint changes nothing in the run."""
        if self.pending and self.held is None:
            self.held = self._reply()
        self.conn.send(("snapshot", with_buffer))
        _, _, snapshot = self._reply()
        in_flight = {"metrics": self.held[1], "t_sent": self.t_sent} if self.pending else None
        return {"runner": self.runner.state_dict(), "schedule": self.schedule.state_dict(),
                "learner": _from_bytes(snapshot), "in_flight": in_flight}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the actor's side, and the learner's from its snapshot; a collection that was in
        flight comes back as the reply it gave (its metrics and the parameters it produced)."""
        self.runner.load_state_dict(state["runner"])
        self.schedule.load_state_dict(state["schedule"])
        self.conn.send(("restore", _to_bytes(state["learner"])))
        self._reply()
        in_flight = state["in_flight"]
        self.pending = in_flight is not None
        if self.pending:
            self.held = ("ok", in_flight["metrics"], _to_bytes(state["learner"]["algo"]))
            self.t_sent = int(in_flight["t_sent"])

    def close(self) -> None:
        if self.held is not None:
            self.pending, self.held = False, None
        if self.pending and self.process.is_alive() and self.conn.poll(60):
            self.conn.recv()  # the learner cannot exit while its reply fills the pipe
            self.pending = False
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()  # it ignores SIGTERM
        self.conn.close()
