"""The return of uniformly random play on a marlzoo env: the baseline the results tables compare to.

    python scripts/random_play.py simple_spread --episodes 320
    python scripts/random_play.py multiwalker --episodes 100
    python scripts/random_play.py simple_spread --set env.kwargs.continuous_actions=true

Random play samples every available discrete action with equal probability, or Box actions
uniformly inside the bounds, through the same adapter, runner and metric contract as training
(the return is the sum over the episode of the team reward). Prints one line of JSON.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from marlzoo.algos.random_play import RandomPlay
from marlzoo.config import load_config
from marlzoo.training.runner import EpisodeRunner
from marlzoo.training.trainer import make_vector_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("env")
    parser.add_argument("--episodes", type=int, default=320)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cfg = load_config("mappo", args.env, sets=[*args.sets, "wandb.mode=disabled"])
    venv = make_vector_env(cfg, args.n_envs)
    returns = EpisodeRunner(venv, seed=args.seed).evaluate(RandomPlay(venv.spec), args.episodes)
    venv.close()
    print(json.dumps({"env": args.env, "sets": args.sets, "episodes": len(returns),
                      "return_mean": round(float(np.mean(returns)), 2), "return_std": round(float(np.std(returns)), 2)}))


if __name__ == "__main__":
    main()
