"""QTRAN-base: which parameters each loss term trains, padding, value tables, and the CLI."""

from __future__ import annotations

import copy
import io
import json

import pytest
import torch

from marlzoo.algos.qtran import QTRAN, QTRANConfig
from marlzoo.learning.qtable import joint_actions
from tests.conftest import read_metrics
from tests.test_buffer import make_spec as spec
from tests.test_qlearning import random_batch as batch


def grads(algo: QTRAN, **lambdas) -> dict[str, list[torch.Tensor | None]]:
    algo.config.lambda_opt = lambdas.get("opt", 1.0)
    algo.config.lambda_nopt = lambdas.get("nopt", 1.0)
    for p in algo.params:
        p.grad = None
    loss, _ = algo.loss(batch(algo.spec))
    loss.backward()
    return {
        "agent": [p.grad for p in algo.agent.parameters()],
        "q_jt": [p.grad for p in algo.mixer.q_net.parameters()],
        "v_jt": [p.grad for p in algo.mixer.v_net.parameters()],
    }


def _zero(gs) -> bool:
    return all(g is None or torch.count_nonzero(g) == 0 for g in gs)


def test_td_loss_trains_q_jt_only_and_the_constraints_train_the_agents_and_v():
    torch.manual_seed(0)
    algo = QTRAN(spec(), QTRANConfig(standardise_rewards=False))  # so both calls see the same targets
    td_only = grads(algo, opt=0.0, nopt=0.0)
    assert not _zero(td_only["q_jt"])
    assert _zero(td_only["agent"]) and _zero(td_only["v_jt"]), "L_td reaches only Q_jt"
    full = grads(algo)
    assert not _zero(full["agent"]) and not _zero(full["v_jt"])
    for a, b in zip(full["q_jt"], td_only["q_jt"]):
        assert torch.allclose(a, b), "L_opt and L_nopt must hold Q_jt fixed (stop-gradient)"


def test_nopt_is_zero_when_the_transformed_value_is_above_q_jt():
    torch.manual_seed(0)
    algo = QTRAN(spec(), QTRANConfig())
    with torch.no_grad():
        algo.mixer.v_net[-1].bias.fill_(1e4)  # V_jt huge: sum Q_i - Q_jt + V_jt > 0 everywhere
    _, metrics = algo.loss(batch(algo.spec))
    assert metrics["loss/nopt"] == 0.0 and metrics["loss/opt"] > 1e7
    with torch.no_grad():
        algo.mixer.v_net[-1].bias.fill_(-1e4)  # ... and < 0 everywhere
    _, metrics = algo.loss(batch(algo.spec))
    assert metrics["loss/nopt"] > 1e7


def test_padded_steps_and_departed_agents_do_not_change_the_loss():
    torch.manual_seed(0)
    algo = QTRAN(spec(limit=6), QTRANConfig())
    b = batch(algo.spec)
    b.alive[:, 2:, 1] = False
    loss, _ = algo.loss(b)
    other = copy.deepcopy(b)
    other.reward[:, -2:] = 1e6
    other.obs[:, -2:] = 1e3
    other.state[:, -2:] = -1e3
    other.actions[:, -2:] = 3
    other.actions[:, 2:, 1] = (other.actions[:, 2:, 1] + 1) % 4  # a departed agent's "actions"
    loss2, _ = algo.loss(other)
    assert torch.allclose(loss, loss2)


def test_value_table_is_q_jt_over_every_joint_action_and_survives_a_checkpoint():
    torch.manual_seed(0)
    s = spec()
    algo = QTRAN(s, QTRANConfig())
    obs, state = torch.randn(2, 3), torch.randn(6)
    avail = torch.ones(2, 4, dtype=torch.bool)
    table = algo.value_table(obs, state, avail)
    joint = joint_actions(2, 4)
    with torch.no_grad():
        direct = torch.stack([algo.mixer.q(state, u) for u in joint]).view(4, 4)
    assert table.joint_q.shape == (4, 4) and torch.allclose(table.joint_q, direct, atol=1e-6)
    blob = io.BytesIO()
    torch.save(algo.state_dict(), blob)
    blob.seek(0)
    fresh = QTRAN(s, QTRANConfig())
    fresh.load_state_dict(torch.load(blob, weights_only=True))
    again = fresh.value_table(obs, state, avail)
    assert torch.equal(again.joint_q, table.joint_q) and torch.equal(again.agent_q, table.agent_q)


def test_qtran_trains_on_simple_spread(cli, tmp_path):
    result = cli("run", "--algo", "qtran", "--env", "simple_spread", "--steps", "400", "--wandb", "disabled",
                     "--no-progress", "--run-dir", str(tmp_path), "--run-id", "r", "--set", "n_envs=4",
                     "--set", "algo.batch_size=4", "--set", "log_interval=100", "--set", "test_episodes=4")
    assert result.returncode == 0, result.stderr
    rows = [r for r in read_metrics(tmp_path / "r") if "loss/td" in r]
    assert rows and all(k in rows[-1] for k in ("loss/td", "loss/opt", "loss/nopt"))
    assert all(v == v for r in rows for k, v in r.items() if k.startswith("loss/")), "no NaN losses"
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "finished" and info["n_agents"] == 3


def test_qtran_on_box_actions_fails_in_one_line(cli, tmp_path):
    result = cli("run", "--algo", "qtran", "--env", "simple_spread", "--steps", "100", "--wandb", "disabled",
                     "--no-progress", "--run-dir", str(tmp_path), "--set", "env.kwargs.continuous_actions=true")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "qtran" in result.stderr and "discrete" in result.stderr and "continuous" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing is left on disk"


def test_alt_nopt_min_is_each_agents_smallest_counterfactual_gap():
    torch.manual_seed(0)
    algo = QTRAN(spec(limit=4), QTRANConfig(variant="alt", standardise_rewards=False))
    b = batch(algo.spec, B=2)
    b.avail[:, :, 0, 3] = False  # agent a may not take action 3: its deviations skip it
    q_all, _ = algo.unroll_agents(b)
    q_now = q_all[:, :-1].detach()
    state, actions = b.state[:, :-1], b.actions
    with torch.no_grad():
        v = algo.mixer.v(state)
    squares = []
    for bi in range(2):
        for t in range(b.filled.shape[1]):
            if not b.filled[bi, t]:
                continue
            for i in range(2):
                gaps = []
                for a in range(4):
                    if not b.avail[bi, t, i, a]:
                        continue
                    u = actions[bi, t].clone()
                    u[i] = a
                    with torch.no_grad():
                        q_jt = algo.mixer.q(state[bi, t], u)
                    transformed = sum(q_now[bi, t, j, u[j]] for j in range(2))
                    gaps.append(transformed - q_jt + v[bi, t])
                squares.append(min(gaps) ** 2)
    expected = torch.stack(squares).mean()
    q_taken = q_all[:, :-1].gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    got = algo.nopt_min_loss(b, q_all[:, :-1], q_taken, q_taken.sum(-1), algo.mixer.v(state))
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unknown_variant_is_a_config_error(cli_main):
    code, _, err = cli_main("run", "--algo", "qtran", "--env", "nonmonotonic", "--set", "algo.variant=beta",
                            "--wandb", "disabled", "--no-progress")
    assert code == 2 and "variant must be 'base' or 'alt'" in err and err.count("\n") == 1
