"""Same-process A/B of MAPPO's training speed: an older commit's MAPPO against this tree's.

    python benchmarks/update_ab.py --base feafcd3                        # the fast config's shape
    python benchmarks/update_ab.py --base feafcd3 --n-envs 256 --iters 3 \\
        --set algo.rollout_length=25 --set algo.epochs=4 --set algo.minibatches=4

The old ``algos/mappo.py`` and ``marlzoo/learning/actor_critic.py`` are read from ``git show`` and
loaded beside the new (the rest of marlzoo is this tree's). Both train simple_spread on the
vectorised backend with the same seed, in rounds that alternate which goes first; each round times
``--iters`` loop iterations (collect and learn) of each by CPU time and by the wall clock. Printed:
each round, then the medians over rounds of the new/old ratios. A benchmark: nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from marlzoo.config import load_config
from marlzoo.training.loops import make_loop
from marlzoo.training.trainer import build_algorithm, make_vector_env

REPO = Path(__file__).resolve().parents[1]


def old_mappo(rev: str, where: Path) -> type:
    """MAPPO as of ``rev``, with the actor-critic module of ``rev`` under the name ``old_actor_critic``."""
    for path, name in (("marlzoo/learning/actor_critic.py", "old_actor_critic"), ("algos/mappo.py", "old_mappo")):
        text = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True, capture_output=True,
                              text=True).stdout
        text = text.replace("from marlzoo.learning.actor_critic import", "from old_actor_critic import")
        (where / f"{name}.py").write_text(text)
    sys.path.insert(0, str(where))
    spec = importlib.util.spec_from_file_location("old_mappo", where / "old_mappo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MAPPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    parser.add_argument("--n-envs", type=int, default=64)
    parser.add_argument("--iters", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE",
                        help="config overrides (default: the fast config's rollout 10, 8 epochs, 4 minibatches)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sets = args.sets or ["algo.rollout_length=10", "algo.epochs=8", "algo.minibatches=4"]
    with tempfile.TemporaryDirectory() as tmp:
        old_cls = old_mappo(args.base, Path(tmp))
        loops = {}
        for name in ("old", "new"):
            cfg = load_config("mappo", "simple_spread", sets=[*sets, "env.backend=vectorised", "wandb.mode=disabled",
                                                              f"n_envs={args.n_envs}"])
            venv = make_vector_env(cfg, cfg.n_envs)
            torch.manual_seed(0)
            algo = old_cls(venv.spec, cfg.algo, cfg.device) if name == "old" else build_algorithm(cfg, venv.spec)
            loops[name] = make_loop(algo, venv, 0, "mappo", "inline")
            for _ in range(2):  # warm up
                loops[name].iterate(0)
        res: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for r in range(args.rounds):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                n, wall, cpu = 0, time.perf_counter(), time.process_time()
                for _ in range(args.iters):
                    n += loops[name].iterate(n).steps
                res[name].append((n / (time.process_time() - cpu), n / (time.perf_counter() - wall)))
            print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1][0]:.0f} CPU steps/s ({v[-1][1]:.0f} wall)"
                                                 for k, v in res.items()), flush=True)
    cpu_ratio = statistics.median(n[0] / o[0] for n, o in zip(res["new"], res["old"]))
    wall_ratio = statistics.median(n[1] / o[1] for n, o in zip(res["new"], res["old"]))
    print(f"new / old ({args.base}), median over {args.rounds} rounds: {cpu_ratio:.3f} by CPU time, "
          f"{wall_ratio:.3f} by the wall clock; CPU steps/s old {statistics.median(o[0] for o in res['old']):.0f}, "
          f"new {statistics.median(n[0] for n in res['new']):.0f}")


if __name__ == "__main__":
    main()
