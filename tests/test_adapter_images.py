"""Images end to end: pistonball from the catalogue, CNN encoders, and learning from pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marlzoo.config import load_config
from marlzoo.learning.encoders import CNNEncoder, EncoderConfig, FlatEncoder
from marlzoo.envs.catalogue import make_env
from marlzoo.errors import UserError
from marlzoo.learning.nets import AgentNetConfig, AgentNetwork
from marlzoo.training.trainer import Trainer

pytest.importorskip("pettingzoo.butterfly.pistonball_v6")


def run(algo: str, env: str, tmp_path, steps: int, sets: list[str]) -> tuple[dict, object]:
    base = ["wandb.mode=disabled", "n_envs=2", "test_episodes=2", f"test_interval={steps}",
            f"log_interval={steps}", "checkpoint_interval=100000"]
    config = load_config(algo, env, sets=base + sets, steps=steps, seed=0)
    run_dir = tmp_path / algo
    run_dir.mkdir()
    trainer = Trainer(config, run_dir, show_progress=False)
    return trainer.train(), trainer.algo


def test_pistonball_catalogue_entry_is_grey_small_stacked_and_moving():
    adapter = make_env("pistonball", {"n_pistons": 4, "max_cycles": 20}, reward_aggregation="mean", state="env")
    spec = adapter.spec
    assert spec.obs_shape == (3, 32, 16) and spec.n_actions == 3 and spec.episode_limit == 20
    assert spec.state_dim == 5 + 4 and spec.state_source == "env.state()"
    adapter.reset(seed=0)
    assert 0.0 <= adapter.obs.min() and adapter.obs.max() <= 1.0
    frames = [adapter.obs.copy()]
    for _ in range(4):
        adapter.step(np.array([2, 0, 2, 0]))
        frames.append(adapter.obs.copy())
    for before, after in zip(frames, frames[1:]):
        np.testing.assert_array_equal(after[:, :2], before[:, 1:])  # the stack shifts, newest last
    assert not np.array_equal(frames[0][:, -1], frames[-1][:, -1]), "pistonball's screen must be redrawn"


def test_cnn_encoder_is_chosen_for_images_and_configurable():
    images = AgentNetwork((3, 32, 16), 3, 4, AgentNetConfig())
    assert isinstance(images.encoder, CNNEncoder)
    x = torch.rand(2, 5, 4, 3, 32, 16)
    out, _ = images.unroll(x)
    assert out.shape == (2, 5, 4, 3)
    flat_in, _ = images.unroll(x.flatten(start_dim=3))  # flattened images are unflattened first
    assert torch.equal(out, flat_in)
    step, _ = images.step(x[:, 0], None)
    assert torch.allclose(step, out[:, 0], atol=1e-6)

    flat = AgentNetwork((3, 32, 16), 3, 4, AgentNetConfig(encoder=EncoderConfig(kind="flat")))
    assert isinstance(flat.encoder, FlatEncoder) and flat.bodies[0].fc_in.in_features == 3 * 32 * 16 + 4
    assert AgentNetwork((18,), 5, 3, AgentNetConfig()).encoder is None
    gru = AgentNetwork((1, 16, 16), 2, 2, AgentNetConfig(kind="gru"))
    out, h = gru.unroll(torch.rand(3, 4, 2, 1, 16, 16))
    assert out.shape == (3, 4, 2, 2) and h.shape == (3, 2, 64)


def test_encoder_errors_say_what_to_change():
    with pytest.raises(UserError, match=r"images of shape \(1, 8, 8\) are too small.*algo.agent.encoder"):
        AgentNetwork((1, 8, 8), 2, 2, AgentNetConfig())
    with pytest.raises(UserError, match=r"encoder.kind=cnn needs image observations"):
        AgentNetwork((18,), 2, 2, AgentNetConfig(encoder=EncoderConfig(kind="cnn")))


def test_encoder_is_set_from_the_config_file_layers():
    config = load_config("qmix", "pistonball", sets=["algo.agent.encoder.channels=[8, 16]",
                                                     "algo.agent.encoder.kernels=[4, 3]",
                                                     "algo.agent.encoder.strides=[2, 2]"])
    assert config.algo.agent.encoder.channels == (8, 16)
    with pytest.raises(UserError, match=r"algo.agent.encoder.kind"):
        load_config("qmix", "pistonball", sets=["algo.agent.encoder.kind=resnet"])


@pytest.mark.slow
def test_a_cnn_agent_learns_from_pixels(tmp_path):
    """Spot: the side of a bright square is only in the pixels; random play scores 10 of 20."""
    info, algo = run("idqn", "tests.adapter_envs:Spot", tmp_path, 2000,
                     ["n_envs=4", "test_episodes=16", "algo.batch_size=8", "algo.epsilon_anneal_steps=1000"])
    assert isinstance(algo.agent.encoder, CNNEncoder)
    assert info["final_metrics"]["test/return_mean"] >= 17.0  # observed 20.0


@pytest.mark.parametrize("algo", ["qmix", "mappo"])
def test_qmix_and_mappo_run_on_pistonball(algo, tmp_path):
    sets = ["env.kwargs.n_pistons=4", "env.kwargs.max_cycles=16", "algo.batch_size=2", "algo.rollout_length=16"]
    fields = {"qmix": ("batch_size",), "mappo": ("rollout_length",)}[algo]
    sets = [s for s in sets if not s.startswith("algo.") or s.split(".")[1].split("=")[0] in fields]
    info, learner = run(algo, "pistonball", tmp_path, 64, sets)
    assert info["status"] == "finished" and tuple(info["env_spec"]["obs_shape"]) == (3, 32, 16)
    losses = {k: v for k, v in info["final_metrics"].items() if k.startswith("loss/")}
    assert losses and all(np.isfinite(v) for v in losses.values())
