"""Same-process A/B of a replay learner's update, and the learner's share of a training run's CPU time.

    python benchmarks/learner_ab.py                       # QMIX: CPU ms per update, each candidate
    python benchmarks/learner_ab.py --algo vdn --cycles 200
    python benchmarks/learner_ab.py --share               # + the share of training time spent learning

The buffer is filled by the real training loop (vectorised simple_spread, 25 iterations of 8
episodes), then every candidate, a copy of the same algorithm, makes updates on the same pre-sampled
32-episode batches. Updates are interleaved one at a time in a rotating order, so the drift of a
shared machine falls on every candidate alike; each figure is the median of this thread's CPU time
per update, and the ratio is the median of per-cycle ratios to the first candidate. ``--share``
trains each candidate for ``--share-iterations`` loop iterations (alternating between them, in
blocks of 5) and reports the CPU time inside ``learn`` over all of it. Candidates:

  current           the code as it is
  before-5ca9aaf    the feed-forward agent's 4-D input to its linear layers and out-of-place ReLUs,
                    as before commit 5ca9aaf (the same numbers, bit for bit)
  compile-mixer     torch.compile on the mixer and its target (different last bits; compiles first)
  compile-agent     torch.compile on both agent networks' unroll (likewise)

This is a benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import types
from typing import Callable

import torch

from marlzoo.config import load_config
from marlzoo.learning import nets
from marlzoo.training.loops import make_loop
from marlzoo.training.trainer import build_algorithm, make_vector_env


def _body_before(self, x, h):
    x = torch.relu(self.fc_in(x))
    if self.recurrent:
        x, h = self.core(x, h)
    else:
        x = torch.relu(self.core(x))
    return self.fc_out(x), h


def _unroll_before(self, x, hidden=None, extra=None):
    if self.recurrent or len(self.bodies) != 1:
        return nets.AgentNetwork.unroll(self, x, hidden, extra)
    return self.bodies[0](self._with_id(x, extra), None)[0], None


def before(algo):
    for net in (algo.agent, algo.target_agent):
        net.unroll = types.MethodType(_unroll_before, net)
        for body in net.bodies:
            body.forward = types.MethodType(_body_before, body)
    return algo


def compile_mixer(algo):
    if algo.mixer is not None:  # independent learners have none
        algo.mixer, algo.target_mixer = torch.compile(algo.mixer), torch.compile(algo.target_mixer)
    return algo


def compile_agent(algo):
    for net in (algo.agent, algo.target_agent):
        net.unroll = torch.compile(net.unroll)
    return algo


CANDIDATES: dict[str, Callable] = {"current": lambda algo: algo, "before-5ca9aaf": before,
                                   "compile-mixer": compile_mixer, "compile-agent": compile_agent}


def filled_loop(algo_name: str, sets: list[str]):
    cfg = load_config(algo_name, "simple_spread", sets=["wandb.mode=disabled", "env.backend=vectorised", *sets])
    venv = make_vector_env(cfg, cfg.n_envs)
    algo = build_algorithm(cfg, venv.spec)
    loop = make_loop(algo, venv, 0, algo_name)
    for _ in range(25):
        loop.iterate(0)
    return algo, loop


def update_ab(base, batches, names: list[str], cycles: int) -> dict[str, list[float]]:
    algos = {name: CANDIDATES[name](copy.deepcopy(base)) for name in names}
    for algo in algos.values():  # warm up (and compile)
        for batch in batches[:5]:
            algo.update(batch, 0)
    times: dict[str, list[float]] = {name: [] for name in names}
    for c in range(cycles):
        batch, k = batches[c % len(batches)], c % len(names)
        for name in names[k:] + names[:k]:
            start = time.thread_time_ns()
            algos[name].update(batch, 0)
            times[name].append((time.thread_time_ns() - start) / 1e6)
    return times


def learner_share(base_loop, names: list[str], iterations: int) -> dict[str, tuple[float, float]]:
    """(CPU s in learn, CPU s in all) per candidate, over ``iterations`` of its own copy of the loop."""
    loops, spent = {}, {}
    for name in names:
        loop = copy.deepcopy(base_loop)
        loop.algo = CANDIDATES[name](loop.algo)
        learn, spent[name] = loop.algo.learn, [0.0, 0.0]

        def timed_learn(*args, _learn=learn, _spent=spent[name]):
            start = time.thread_time()
            out = _learn(*args)
            _spent[0] += time.thread_time() - start
            return out

        loop.algo.learn = timed_learn
        loops[name] = loop
    t_env = {name: 0 for name in names}
    for block in range(0, iterations, 5):
        for name in names:
            start = time.thread_time()
            for _ in range(min(5, iterations - block)):
                t_env[name] += loops[name].iterate(t_env[name]).steps
            spent[name][1] += time.thread_time() - start
    return {name: (s[0], s[1]) for name, s in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", default="qmix")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--cycles", type=int, default=300, help="updates per candidate")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--share", action="store_true", help="also the learner's share of training CPU time")
    parser.add_argument("--share-iterations", type=int, default=100, help="loop iterations (8 episodes each)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    algo, loop = filled_loop(args.algo, args.sets)
    generator = torch.Generator().manual_seed(1)
    batches = [loop.buffer.sample(algo.batch_size, generator=generator) for _ in range(40)]
    times = update_ab(algo, batches, args.candidates, args.cycles)
    first = times[args.candidates[0]]
    print(f"{args.algo}: CPU ms per update of {algo.batch_size} episodes, median of {args.cycles} interleaved updates")
    print(f"{'candidate':<18}{'ms/update':>10}{'IQR':>16}{'x ' + args.candidates[0]:>14}")
    for name, values in times.items():
        q1, _, q3 = statistics.quantiles(values, n=4)
        ratio = statistics.median(v / f for v, f in zip(values, first))
        print(f"{name:<18}{statistics.median(values):>10.2f}{f'{q1:.2f}-{q3:.2f}':>16}{ratio:>14.3f}")
    if args.share:
        names = [n for n in args.candidates if not n.startswith("compile")]
        print(f"\nlearner's share of training CPU time, {args.share_iterations} loop iterations each")
        for name, (learn_s, total_s) in learner_share(loop, names, args.share_iterations).items():
            print(f"{name:<18} learn {learn_s:6.2f} s of {total_s:6.2f} s: {learn_s / total_s:6.1%}")


if __name__ == "__main__":
    main()
