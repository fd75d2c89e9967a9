"""What marlzoo's adapter costs on top of an env: raw PettingZoo vs the adapter vs a policy rollout.

    python benchmarks/adapter_overhead.py --env pistonball --steps 400
    python benchmarks/adapter_overhead.py --env hanabi --steps 5000          # a turn-based AECEnv
    python benchmarks/adapter_overhead.py --env simple_spread --steps 5000
    python benchmarks/adapter_overhead.py --env lbforaging:Foraging-8x8-2p-2f-coop-v3 --steps 5000  # Gymnasium multi-agent
    python benchmarks/adapter_overhead.py --pixels --steps 300   # pistonball: marlzoo's vs SuperSuit's preprocessing

Three figures, in env steps per second (a step is one joint action, or one turn of a turn-based game).
Each is measured by the wall clock and by this process's CPU time (on a shared machine other
processes stretch the first but not the second, so CPU-time ratios are the fair comparison); the
phases alternate in rounds and each figure is the best over rounds:
  raw       the env as its factory builds it (with the catalogue's preprocessing), stepped with
            random legal actions through its own API: ``step(dict)`` for a ParallelEnv, the
            ``agent_iter()``/``last()`` loop for an AECEnv, ``step(tuple)`` for a Gymnasium multi-agent env
  adapter   the same env through its adapter (:func:`make_env`), random legal actions from ``avail``
  rollout   marlzoo's EpisodeRunner over ``--n-envs`` copies with ``--algo`` acting (one batched
            policy call per step; with a CNN for images)
Each is printed with its ratio to raw; the last line is one JSON object. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import AECEnv

from marlzoo.config import load_config
from marlzoo.envs.catalogue import make_env, resolve_env_factory
from marlzoo.envs.gymnasium_ma import is_multiagent_gymnasium
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import build_algorithm, make_vector_env


def _sampler(space: spaces.Space, rng: np.random.Generator):
    """A fast random action for one agent, respecting an action mask if one is given."""
    if isinstance(space, spaces.Discrete):
        return lambda mask: int(rng.choice(np.flatnonzero(mask))) + int(space.start) if mask is not None \
            else int(rng.integers(space.n)) + int(space.start)
    if isinstance(space, spaces.Box):
        return lambda mask: rng.uniform(space.low, space.high).astype(space.dtype)
    return lambda mask: space.sample()


def _mask_of(obs, info):
    if isinstance(obs, dict) and "action_mask" in obs:
        return obs["action_mask"]
    return info.get("action_mask") if info else None


def timed(work: Callable[[], float]) -> tuple[float, float]:
    """Run ``work`` (which returns the env steps it took) and return (wall sps, CPU-time sps)."""
    wall, cpu = time.perf_counter(), time.process_time()
    steps = work()
    return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)


def raw_parallel(env, steps: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    samplers = {a: _sampler(env.action_space(a), rng) for a in env.possible_agents}
    n, episode = 0, 0
    while n < steps:
        observations, infos = env.reset(seed=seed + episode)
        episode += 1
        while env.agents and n < steps:
            actions = {a: samplers[a](_mask_of(observations.get(a), infos.get(a))) for a in env.agents}
            observations, _, _, _, infos = env.step(actions)
            n += 1
    return n


def raw_aec(env, steps: int, seed: int) -> float:
    """Turns per second (or cycles of every agent's turn, for a parallelizable AECEnv)."""
    rng = np.random.default_rng(seed)
    samplers = {a: _sampler(env.action_space(a), rng) for a in env.possible_agents}
    per_step = len(env.possible_agents) if env.metadata.get("is_parallelizable", False) else 1
    turns, episode = 0, 0
    while turns < steps * per_step:
        env.reset(seed=seed + episode)
        episode += 1
        for agent in env.agent_iter():
            obs, _, term, trunc, info = env.last()
            env.step(None if term or trunc else samplers[agent](_mask_of(obs, info)))
            turns += 0 if term or trunc else 1
            if turns >= steps * per_step:
                break
    return turns / per_step


def raw_gymnasium(env, steps: int, seed: int) -> int:
    """Joint steps per second of a Gymnasium multi-agent env (a Tuple of per-agent spaces)."""
    rng = np.random.default_rng(seed)
    samplers = [_sampler(space, rng) for space in env.action_space.spaces]
    n, episode, done = 0, 0, True
    while n < steps:
        if done:
            env.reset(seed=seed + episode)
            episode += 1
        _, _, terminated, truncated, _ = env.step(tuple(sample(None) for sample in samplers))
        done = bool(np.all(terminated) or np.all(truncated))
        n += 1
    return n


def adapter_steps(adapter, steps: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    spec = adapter.spec
    n, episode, done = 0, 0, True
    while n < steps:
        if done:
            adapter.reset(seed=seed + episode)
            episode += 1
        if spec.action_kind == "discrete":
            scores = rng.random(adapter.avail.shape)
            scores[~adapter.avail] = -1.0
            actions = scores.argmax(axis=-1)
        else:
            actions = rng.uniform(-1.0, 1.0, (spec.n_agents, spec.n_actions)).astype(np.float32)
            actions = np.clip(actions, np.array(spec.action_low[0]), np.array(spec.action_high[0]))
        _, terminated, truncated = adapter.step(actions)
        done = terminated or truncated
        n += 1
    return n


def rollout_steps(runner: EpisodeRunner, algo, steps: int) -> int:
    n = 0
    while n < steps:
        n += runner.run(algo, explore=True, t_env=0)[1].steps
    return n


def compare_pixels(steps: int, rounds: int) -> None:
    """Raw pistonball, with marlzoo's PixelPreprocess, and with SuperSuit's equivalent wrappers."""
    import supersuit as ss
    from pettingzoo.butterfly import pistonball_v6

    from marlzoo.envs.images import pistonball

    def plain():
        return pistonball_v6.parallel_env(n_pistons=5, continuous=False, render_mode="rgb_array")

    variants = {
        "none": plain,
        "marlzoo PixelPreprocess": pistonball,
        "SuperSuit color_reduction+resize+frame_stack":
            lambda: ss.frame_stack_v1(ss.resize_v1(ss.color_reduction_v0(plain(), "full"), 16, 32), 3),
    }
    best: dict[str, tuple[float, float]] = {}
    for r in range(rounds):
        for name, make in variants.items():
            env = make()
            wall, cpu = timed(lambda: raw_parallel(env, steps, seed=r))
            best[name] = (max(wall, best.get(name, (0, 0))[0]), max(cpu, best.get(name, (0, 0))[1]))
    for name, (wall, cpu) in best.items():
        print(f"pistonball (5 pistons), preprocessing {name}: {wall:.0f} steps/s (cpu {cpu:.0f})")
    print(json.dumps({name: {"sps": round(w, 1), "cpu_sps": round(c, 1)} for name, (w, c) in best.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="pistonball")
    parser.add_argument("--algo", default="qmix", help="the policy of the rollout phase")
    parser.add_argument("--steps", type=int, default=1000, help="env steps per phase per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--pixels", action="store_true", help="compare pistonball's pixel preprocessing instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.pixels:
        compare_pixels(args.steps, args.rounds)
        return

    cfg = load_config(args.algo, args.env, sets=[*args.sets, "wandb.mode=disabled", f"n_envs={args.n_envs}"])
    e = cfg.env
    factory = resolve_env_factory(e.name)
    adapter = make_env(e.name, e.kwargs, e.episode_limit, e.reward_aggregation, e.state, e.scale_obs)
    venv = make_vector_env(cfg, cfg.n_envs)
    algo = build_algorithm(cfg, venv.spec)
    runner = EpisodeRunner(venv, seed=0)
    runner.run(algo, explore=True, t_env=0)  # warm up
    spec = adapter.spec
    kind = "turn-based AECEnv" if spec.turn_based else "ParallelEnv"
    probe = factory(**e.kwargs)
    if is_multiagent_gymnasium(probe):
        kind = "Gymnasium multi-agent env"
    elif not spec.turn_based and isinstance(probe, AECEnv):
        kind = "AECEnv"

    phases: dict[str, list[tuple[float, float]]] = {"raw": [], "adapter": [], "rollout": []}
    for r in range(args.rounds):
        env = factory(**e.kwargs)
        raw_run = raw_aec if isinstance(env, AECEnv) else raw_gymnasium if is_multiagent_gymnasium(env) else raw_parallel
        phases["raw"].append(timed(lambda: raw_run(env, args.steps, seed=r)))
        env.close()
        phases["adapter"].append(timed(lambda: adapter_steps(adapter, args.steps, seed=r)))
        phases["rollout"].append(timed(lambda: rollout_steps(runner, algo, args.steps)))
        print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1][0]:.0f} (cpu {v[-1][1]:.0f})" for k, v in phases.items()),
              flush=True)

    best = {k: (max(w for w, _ in v), max(c for _, c in v)) for k, v in phases.items()}
    result = {"env": args.env, "api": kind, "n_agents": spec.n_agents, "obs_shape": list(spec.obs_shape),
              "algo": args.algo, "n_envs": args.n_envs, "steps": args.steps, "rounds": args.rounds}
    for key, (wall, cpu) in best.items():
        result[f"{key}_sps"], result[f"{key}_cpu_sps"] = round(wall, 1), round(cpu, 1)
    for key in ("adapter", "rollout"):
        result[f"{key}_ratio"] = round(best[key][0] / best["raw"][0], 3)
        result[f"{key}_cpu_ratio"] = round(best[key][1] / best["raw"][1], 3)
    print(f"{args.env} ({kind}): raw {result['raw_sps']:.0f} steps/s (cpu {result['raw_cpu_sps']:.0f}); "
          f"adapter {result['adapter_ratio']:.2f}x raw (cpu {result['adapter_cpu_ratio']:.2f}x); rollout with "
          f"{args.algo} {result['rollout_ratio']:.2f}x raw (cpu {result['rollout_cpu_ratio']:.2f}x)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
