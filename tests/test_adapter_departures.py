"""Agents that leave before the episode ends: every algorithm runs, and no loss, mixer or critic
is touched by what was recorded for an agent after it left."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from marlzoo.training.buffers import EpisodeBatch
from marlzoo.config import load_config
from marlzoo.envs.adapter import PettingZooAdapter
from marlzoo.envs.vector import VectorEnv
from marlzoo.learning.qlearning import QLearner
from marlzoo.registry import algo_names, get_algo
from marlzoo.training.rollouts import RolloutBuffer, RolloutRunner
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import Trainer
from tests.adapter_envs import Departures
from tests.conftest import learn_step

ENV = "tests.adapter_envs:Departures"
ALGOS = sorted(n for n in algo_names() if n != "random")  # every algorithm that learns
CASES = [(name, kind) for name in ALGOS for kind in ("discrete", "continuous") if kind in get_algo(name).action_kinds]


def small_config(cls) -> object:
    """The algorithm's defaults, with batches small enough to learn from a handful of episodes."""
    names = {f.name for f in dataclasses.fields(cls.Config)}
    overrides = {k: v for k, v in {"batch_size": 4, "rollout_length": 10, "update_every": 1}.items() if k in names}
    return cls.Config(**overrides)


def test_departures_are_seen_as_alive_masks_and_no_op_actions():
    adapter = PettingZooAdapter(Departures(leave_at=(2, 4, 6), max_cycles=6), "departures")
    adapter.reset()
    alive = []
    for _ in range(6):
        adapter.step(np.array([0, 1, 2]))
        alive.append(adapter.alive.tolist())
        for i in np.flatnonzero(~adapter.alive):
            assert adapter.avail[i].tolist() == [True, False, False] and not adapter.obs[i].any()
    assert alive == [[1, 1, 1], [0, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 1], [0, 0, 0]]


@pytest.mark.parametrize("name, kind", CASES)
def test_every_algorithm_trains_on_an_env_whose_agents_leave(name, kind, tmp_path):
    cls = get_algo(name)
    sets = ["wandb.mode=disabled", "n_envs=2", "test_episodes=2", "test_interval=300", "log_interval=300",
            "checkpoint_interval=1000", f"env.kwargs.continuous={'true' if kind == 'continuous' else 'false'}"]
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    sets += [f"algo.{k}={v}" for k, v in {"batch_size": 4}.items() if k in fields]
    config = load_config(name, ENV, sets=sets, steps=300, seed=0)
    (tmp_path / name).mkdir()
    info = Trainer(config, tmp_path / name, show_progress=False).train()
    assert info["status"] == "finished" and info["env_steps"] >= 300
    final = info["final_metrics"]
    assert final["train/ep_length_mean"] == 10  # the last agent leaves at the episode limit
    assert all(math.isfinite(v) for k, v in final.items() if isinstance(v, float)), final
    assert any(k.startswith("loss/") for k in final), f"{name} never learned: {final}"


# ----------------------------------------------------------------------------- exact invariance
def collect(name: str, kind: str = "discrete", seed: int = 0):
    """An algorithm and a buffer filled from the departures env by marlzoo's own runners."""
    torch.manual_seed(seed)
    cls = get_algo(name)
    continuous = kind == "continuous"
    venv = VectorEnv(lambda: PettingZooAdapter(Departures(continuous=continuous), "departures"), 3)
    algo = cls(venv.spec, small_config(cls))
    buffer = algo.make_buffer()
    if isinstance(buffer, RolloutBuffer):
        RolloutRunner(venv, seed).collect(algo, buffer, 0)
    else:
        runner = EpisodeRunner(venv, seed)
        for _ in range(3):
            batch, _ = runner.run(algo, explore=True, t_env=0)
            buffer.insert(batch)
    return algo, buffer


def _episode_batches(buffer) -> list[EpisodeBatch]:
    candidates = (getattr(buffer, "storage", None), getattr(buffer, "batch", None))
    return [b for b in candidates if isinstance(b, EpisodeBatch)]


def perturb_departed(buffer, seed: int = 1) -> int:
    """Overwrite, where an agent is not alive, what was recorded for it: observations, actions,
    available actions (any non-empty set) and, for rollouts, its log-probs and values. Returns how
    many agent-steps were changed."""
    gen = torch.Generator().manual_seed(seed)

    def noise(x: torch.Tensor, where: torch.Tensor) -> None:
        where = where.reshape(*where.shape, *([1] * (x.dim() - where.dim()))).expand_as(x)
        x[where] = torch.randn(x.shape, generator=gen)[where] * 3.0

    def new_avail(avail: torch.Tensor, where: torch.Tensor) -> None:
        fresh = torch.rand(avail.shape, generator=gen) < 0.5
        fresh[..., -1] = True
        avail[where] = fresh[where]

    def new_actions(actions: torch.Tensor, where: torch.Tensor, n: int) -> None:
        if actions.dtype == torch.long:
            actions[where] = torch.randint(0, n, actions.shape, generator=gen)[where]
        else:
            noise(actions, where)

    if isinstance(buffer, RolloutBuffer):
        dead = ~buffer.alive
        noise(buffer.obs, dead)
        new_avail(buffer.avail, dead)
        new_actions(buffer.actions, dead, buffer.avail.shape[-1])
        noise(buffer.log_prob, dead)
        noise(buffer.value, dead)
        return int(dead.sum())
    changed = 0
    for batch in _episode_batches(buffer):
        dead = ~batch.alive
        noise(batch.obs, dead)
        new_avail(batch.avail, dead)
        new_actions(batch.actions, dead[:, :-1], batch.avail.shape[-1])
        changed += int(dead.sum())
    return changed


def assert_same(a, b, where="state") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, f"{where}: {a} != {b}"


@pytest.mark.parametrize("name, kind", CASES)
def test_learning_is_bit_identical_whatever_was_recorded_for_departed_agents(name, kind):
    algo, buffer = collect(name, kind)
    twin, garbage = copy.deepcopy(algo), copy.deepcopy(buffer)
    assert perturb_departed(garbage) > 0
    for step in range(2):
        torch.manual_seed(100 + step)
        metrics = learn_step(algo, buffer, 1000)
        torch.manual_seed(100 + step)
        metrics_garbage = learn_step(twin, garbage, 1000)
        assert metrics == metrics_garbage
        if name == "iql":  # it learns from the latest episodes once; give it the same episodes again
            buffer.insert(_episode_batches(collect(name, kind)[1])[0])
            garbage.insert(_episode_batches(buffer)[0])
            perturb_departed(garbage, seed=2 + step)
    assert metrics, f"{name} did not learn"
    assert_same(algo.state_dict(), twin.state_dict())


@pytest.mark.parametrize("name", [n for n in ALGOS if issubclass(get_algo(n), QLearner)])
def test_value_based_loss_and_gradients_ignore_departed_agents(name):
    """The TD loss, the mixer's input and every gradient are bit-identical when the departed
    agents' observations, actions and masks are replaced by noise."""
    algo, buffer = collect(name)
    batch = buffer.sample(4, generator=torch.Generator().manual_seed(0))
    garbage = copy.deepcopy(batch)

    class One:
        storage = garbage

    assert perturb_departed(One) > 0
    results = []
    for b in (batch, garbage):
        q_taken, next_q = copy.deepcopy(algo).agent_values(b)
        learner = copy.deepcopy(algo)  # a fresh copy: the loss updates running reward statistics
        loss, _ = learner.loss(b)
        loss.backward()
        grads = [p.grad.clone() for p in learner.params if p.grad is not None]
        results.append((q_taken.detach(), next_q, loss.detach(), grads))
    (q1, n1, l1, g1), (q2, n2, l2, g2) = results
    assert torch.equal(q1, q2) and torch.equal(n1, n2), "departed agents reached the mixer's input"
    assert torch.equal(l1, l2)
    assert len(g1) == len(g2) and all(torch.equal(x, y) for x, y in zip(g1, g2))
    assert any(x.abs().sum() > 0 for x in g1)
