"""The vectorised MPE against mpe2, step for step, as JaxMARL checks its MPE against the original.

    python benchmarks/mpe_exactness.py                     # 500 episodes per task and action kind
    python benchmarks/mpe_exactness.py --episodes 2000 --copies 16

For each task (simple_spread, simple_speaker_listener, simple_reference) and action kind (discrete,
continuous), two batched envs are built on the same config: marlzoo's ``pettingzoo`` backend (a
VectorEnv of adapters over mpe2's ``parallel_env``) and its ``vectorised`` backend. Both are reset
with the same seeds and stepped with the same random actions: legal indices, or vectors drawn in
[-0.25, 1.25] so that clipping into the Box is exercised too. Copies are stepped at random times
(each is left out of a step with probability 0.1, as the episode runner leaves out finished copies),
finished copies are reset at once, with a fresh seed one time in four and on their own random
stream otherwise, and after every reset and step all seven arrays (obs, state, avail, alive,
reward, terminated, truncated) are compared: floats to within ``TOLERANCE``, the rest exactly.

The configs cycle through the kwargs the vectorised backend accepts (N, local_ratio, max_cycles,
continuous_actions, dynamic_rescaling) and marlzoo's env options (episode_limit,
reward_aggregation, state), so every one of them is compared. The last line printed is one JSON
object. :func:`compare` is also what ``tests/test_mpe_vectorised.py`` runs, on fewer episodes.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pettingzoo.utils.env_logger import EnvLogger

from marlzoo.envs.catalogue import make_env
from marlzoo.envs.mpe import MPEVectorEnv
from marlzoo.envs.vector import VectorEnv

TOLERANCE = 1e-5
FLOATS = ("obs", "state", "reward")
EXACT = ("avail", "alive", "terminated", "truncated")
TASKS = ("simple_spread", "simple_speaker_listener", "simple_reference")


@dataclass
class Setting:
    """One config both backends are built with."""

    task: str
    kwargs: dict[str, Any]
    episode_limit: int | None = None
    reward_aggregation: str = "sum"
    state: str = "concat_obs"

    def options(self) -> dict[str, Any]:
        return {"episode_limit": self.episode_limit, "reward_aggregation": self.reward_aggregation,
                "state": self.state}


@dataclass
class Result:
    """What a comparison saw: episodes finished, steps compared, the largest float difference."""

    episodes: int = 0
    steps: int = 0
    max_diff: float = 0.0
    mismatches: list[str] = field(default_factory=list)

    def add(self, other: "Result") -> None:
        self.episodes += other.episodes
        self.steps += other.steps
        self.max_diff = max(self.max_diff, other.max_diff)
        self.mismatches += other.mismatches


def settings(task: str, continuous: bool) -> list[Setting]:
    """The configs compared for a task and action kind: mpe2's defaults first, then the other kwargs."""
    base = {"continuous_actions": continuous}
    out = [Setting(task, dict(base))]
    if task == "simple_spread":
        out += [Setting(task, {**base, "N": 4, "local_ratio": 0.2, "max_cycles": 30}, state="auto"),
                Setting(task, {**base, "N": 2, "local_ratio": 1.0, "dynamic_rescaling": False},
                        reward_aggregation="mean"),
                Setting(task, {**base, "local_ratio": 0.0, "max_cycles": 40}, episode_limit=17)]
    elif task == "simple_reference":
        out += [Setting(task, {**base, "local_ratio": 0.9, "max_cycles": 12}, state="auto", reward_aggregation="mean"),
                Setting(task, {**base, "local_ratio": 0.0}, episode_limit=40)]
    else:
        out += [Setting(task, {**base, "max_cycles": 9}, state="auto"),
                Setting(task, {**base, "dynamic_rescaling": False}, episode_limit=13, reward_aggregation="mean")]
    return out


def random_actions(env: MPEVectorEnv, rng: np.random.Generator) -> np.ndarray:
    if env.continuous:
        return rng.uniform(-0.25, 1.25, (env.n, env.spec.n_agents, env.spec.n_actions)).astype(np.float32)
    scores = rng.random(env.avail.shape)
    scores[~env.avail] = -1.0
    return scores.argmax(axis=-1)


def _diff(result: Result, ours: MPEVectorEnv, theirs: VectorEnv, where: str) -> None:
    for name in FLOATS:
        gap = float(np.max(np.abs(getattr(ours, name).astype(np.float64) - getattr(theirs, name)), initial=0.0))
        result.max_diff = max(result.max_diff, gap)
        if not gap <= TOLERANCE:
            result.mismatches.append(f"{name} differs by {gap:.3g} {where}")
    for name in EXACT:
        if not np.array_equal(getattr(ours, name), getattr(theirs, name)):
            result.mismatches.append(f"{name} differs {where}")


def compare(setting: Setting, episodes: int, copies: int = 8, seed: int = 0) -> Result:
    """Run ``episodes`` random-action episodes of ``setting`` on both backends and compare them."""
    EnvLogger.suppress_output()  # mpe2's warnings on clipped actions: the clipping is what is tested
    rng = np.random.default_rng(seed)
    ours = MPEVectorEnv(setting.task, copies, setting.kwargs, **setting.options())
    theirs = VectorEnv(lambda: make_env(setting.task, setting.kwargs, **setting.options()), copies)
    result = Result()
    if ours.spec.obs_shape != theirs.spec.obs_shape or ours.spec.state_dim != theirs.spec.state_dim:
        result.mismatches.append(f"spec differs: {ours.spec} vs {theirs.spec}")
        return result
    seeds = [seed * 1000 + i for i in range(copies)]
    ours.reset(seeds)
    theirs.reset(seeds)
    _diff(result, ours, theirs, f"after the first reset of {setting}")
    next_seed = seed * 1000 + copies
    while result.episodes < episodes and len(result.mismatches) < 10:
        actions = random_actions(ours, rng)
        active = rng.random(copies) < 0.9
        ours.step(actions, active)
        theirs.step(actions, active)
        result.steps += int(active.sum())
        _diff(result, ours, theirs, f"at a step of {setting}")
        ended = ours.terminated | ours.truncated
        if ended.any():
            result.episodes += int(ended.sum())
            fresh = rng.random() < 0.25
            new = [next_seed + i if fresh else None for i in range(copies)]
            next_seed += copies
            ours.reset_where(ended, new)
            theirs.reset_where(ended, new)
            _diff(result, ours, theirs, f"after a reset of {setting}")
        EnvLogger.flush()
    theirs.close()
    return result


def run_all(episodes: int, copies: int = 8, seed: int = 0) -> dict[str, Result]:
    """``episodes`` episodes per task and action kind, spread over its settings."""
    results = {}
    for task in TASKS:
        for continuous in (False, True):
            total = Result()
            group = settings(task, continuous)
            for k, setting in enumerate(group):
                share = episodes // len(group) + (1 if k < episodes % len(group) else 0)
                total.add(compare(setting, share, copies, seed + k))
            results[f"{task}/{'continuous' if continuous else 'discrete'}"] = total
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=500, help="episodes per task and action kind")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    results = run_all(args.episodes, args.copies, args.seed)
    print(f"{'task/actions':36} {'episodes':>8} {'steps':>8} {'max |diff|':>11}  mismatches")
    for name, r in results.items():
        print(f"{name:36} {r.episodes:8d} {r.steps:8d} {r.max_diff:11.3g}  {len(r.mismatches)}")
        for line in r.mismatches[:3]:
            print(f"    {line}")
    ok = all(not r.mismatches for r in results.values())
    print(f"{'all equal' if ok else 'MISMATCH'} to {TOLERANCE:g} in {time.perf_counter() - start:.0f} s")
    print(json.dumps({"tolerance": TOLERANCE, "ok": ok, "results": {
        k: {"episodes": r.episodes, "steps": r.steps, "max_diff": r.max_diff, "mismatches": len(r.mismatches)}
        for k, r in results.items()}}))


if __name__ == "__main__":
    main()
