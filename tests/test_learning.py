"""IDQN, VDN and QMIX each learn simple_spread: greedy play beats random play by a clear margin.

Budgets are small so the suite stays fast (20k env steps, epsilon annealed over 10k), seeds are
fixed, and the learned policy is compared with a uniformly random one on the same evaluation seeds.
The thresholds are what these exact runs reached, less a safety margin (see the table below).
"""

from __future__ import annotations

import json

import pytest

from marlzoo.cli import main
from marlzoo.training.evaluate import evaluate_run, random_returns

EVAL_EPISODES = 100
EVAL_SEED = 777


def random_play(run_dir, episodes: int = EVAL_EPISODES) -> float:
    """Random play's mean return on the greedy evaluation episodes of ``evaluate_run(run_dir,
    episodes, seed=EVAL_SEED)``: the same env copies, seeded the same way."""
    return float(random_returns(run_dir, episodes, seed=EVAL_SEED).mean())


# Observed on this exact budget and seed (greedy return over the 100 evaluation episodes at 20k env
# steps): idqn -70.1, vdn -66.5, qmix -66.9; random play -79.2 on the same evaluation seeds. (At this
# small budget the seed matters: QMIX with seed 1 reached -76.7, with seeds 0 and 2 about -66.7.)
# Each threshold sits below the weakest of them with a margin for evaluation noise.
MINIMUM = {"idqn": -77.0, "vdn": -77.0, "qmix": -77.0}


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["idqn", "vdn", "qmix"])
def test_beats_random_play(algo, tmp_path):
    code = main(["run", "--algo", algo, "--env", "simple_spread", "--steps", "20000", "--seed", "0",
                 "--wandb", "disabled", "--no-progress", "--set", "algo.epsilon_anneal_steps=10000",
                 "--set", "test_interval=20000", "--set", "test_episodes=8",
                 "--run-dir", str(tmp_path), "--run-id", algo])
    assert code == 0
    learned = float(evaluate_run(tmp_path / algo, EVAL_EPISODES, seed=EVAL_SEED).mean())
    baseline = random_play(tmp_path / algo)
    print(json.dumps({"algo": algo, "learned": learned, "random": baseline}))
    assert baseline < -75, "random play on simple_spread scores about -83"
    assert learned > MINIMUM[algo], f"{algo} reached {learned:.1f}"
    assert learned - baseline > 6.0, f"{algo} {learned:.1f} vs random {baseline:.1f}"
