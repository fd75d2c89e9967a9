"""learner=process: learning in a second process applies exactly the updates an inline learner
would, on the same collections, and a run stays reproducible from its seed."""

from __future__ import annotations

import json

import pytest
import torch

from marlzoo.training.buffers import EpisodeBatch
from marlzoo.config import load_config
from marlzoo.training.learner_process import LEARNER_SEED_OFFSET, ProcessLearnerLoop
from marlzoo.training.trainer import build_algorithm, make_vector_env, seed_everything
from tests.conftest import read_metrics

SETS = ["wandb.mode=disabled", "n_envs=2", "algo.batch_size=4", "algo.target_update_interval=3"]


@pytest.mark.slow
def test_the_learner_process_applies_the_inline_updates_to_the_collections_it_is_sent():
    config = load_config("qmix", "simple_spread", sets=SETS)
    seed_everything(0)
    venv = make_vector_env(config, 2)
    actor = build_algorithm(config, venv.spec)
    initial = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in actor.agent.state_dict().items()}
    reference = build_algorithm(config, venv.spec)
    reference.load_state_dict(actor.state_dict())

    loop = ProcessLearnerLoop(actor, venv, seed=5, algo_name="qmix", threads=1)
    sent = []
    real_send = loop.conn.send
    loop.conn.send = lambda message: (sent.append(message), real_send(message))[1]
    try:
        for _ in range(4):
            loop.iterate(0)
        loop.finish()
    finally:
        loop.close()
        venv.close()

    # The same collections, learned from inline with the learner's seed, give the same parameters.
    torch.manual_seed(5 + LEARNER_SEED_OFFSET)
    buffer = reference.make_buffer()
    for _, fields, t_env, n_learn in [m for m in sent if m is not None]:  # None: close()'s stop
        buffer.insert(EpisodeBatch(**{k: torch.from_numpy(v) for k, v in fields.items()}))
        reference.learn(buffer, t_env, n_learn)
    assert reference.updates == actor.updates == 6  # 4 collections of 2 episodes; learning starts at 4 stored
    for name, value in reference.state_dict()["mixer"].items():
        assert torch.equal(value, actor.state_dict()["mixer"][name]), name
    for name, value in reference.agent.state_dict().items():
        assert torch.equal(value, actor.agent.state_dict()[name]), name
        assert not torch.equal(value, initial[name]), f"{name} never changed"


@pytest.mark.slow
def test_a_process_learner_run_repeats_from_its_seed(tmp_path, cli_main):
    args = ["run", "--algo", "vdn", "--env", "simple_spread", "--steps", "600", "--wandb", "disabled", "--no-progress",
            "--run-dir", str(tmp_path), "--set", "learner=process", "--set", "test_interval=300",
            "--set", "test_episodes=4", *[a for s in SETS[1:] for a in ("--set", s)]]
    for run_id in ("a", "b"):
        code, _, err = cli_main(*args, "--run-id", run_id)
        assert code == 0, err
    strip = lambda rows: [json.dumps({k: v for k, v in r.items() if not k.startswith("time/")}, sort_keys=True)
                          for r in rows]  # noqa: E731
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert strip(a) == strip(b)
    assert any("loss/td" in row for row in a), "the learner's metrics reach the log"
    assert "learner: process" in (tmp_path / "a" / "config.yaml").read_text()


def test_on_policy_algorithms_refuse_the_process_learner_in_one_line(tmp_path, cli_main):
    code, out, err = cli_main("run", "--algo", "mappo", "--env", "simple_spread", "--steps", "100", "--wandb", "disabled",
                              "--no-progress", "--run-dir", str(tmp_path), "--set", "learner=process")
    assert code == 2 and err.count("\n") == 1 and "learner=inline" in err
