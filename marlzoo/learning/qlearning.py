"""The Q-learning core shared by every value-based algorithm (IDQN, VDN, QMIX, ...).

Agents share one network that maps each agent's observation (and history) to Q_i(o_i, .). An
algorithm built on this core differs only in how it combines the chosen per-agent values:
:meth:`QLearner.build_mixer` returns a module ``mixer(q [B, T, n_agents], state [B, T, S])``, or
None for independent learners. A mixer that needs more than the chosen values (QPLEX: every agent's
advantage and the joint action) overrides :meth:`QLearner.q_tot`. One that needs more than a mix
(QTRAN, weighted QMIX) overrides :meth:`QLearner.loss` and builds on :meth:`QLearner.unroll_agents`,
:meth:`QLearner.next_greedy_actions` and :meth:`QLearner.td_loss`. The core provides the rest once:

* replay of whole episodes (a :class:`~marlzoo.ReplayAlgorithm`), epsilon-greedy acting that
  respects ``avail_actions``;
* target networks (hard copies every ``target_update_interval`` updates);
* double Q-learning: the online net picks the next action, the target net values it;
* TD targets that stop at termination and ignore padded steps;
* optional reward standardisation and gradient clipping.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from marlzoo.algorithm import ReplayAlgorithm
from marlzoo.errors import UserError
from marlzoo.training.buffers import EpisodeBatch
from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.exploration import LinearSchedule, epsilon_greedy, exploration_rng, masked_argmax
from marlzoo.learning.nets import AgentNetConfig, NumpyForward, build_network
from marlzoo.learning.normalise import RewardStandardiser
from marlzoo.learning.qtable import ValueTable, joint_actions


@dataclass
class QLearningConfig:
    """Hyperparameters shared by the value-based algorithms (QMIX literature defaults for MPE)."""

    lr: float = 5e-4
    gamma: float = 0.99
    batch_size: int = 32  # episodes per update
    buffer_size: int = 5000  # episodes
    target_update_interval: int = 200  # updates, i.e. episodes collected
    double_q: bool = True
    grad_clip: float = 10.0
    standardise_rewards: bool = True  # divide rewards by a running std (and centre them): MPE rewards are large
    # which rewards those statistics count: "sampled" (every batch replayed, EPyMARL's) or "inserted"
    # (each reward once, as its episode is stored); see marlzoo.learning.normalise.RewardStandardiser
    reward_stats: Literal["sampled", "inserted"] = "sampled"
    epsilon_start: float = 1.0
    epsilon_finish: float = 0.05
    epsilon_anneal_steps: int = 50_000
    agent: AgentNetConfig = field(default_factory=AgentNetConfig)


def td_targets(
    reward: torch.Tensor, terminated: torch.Tensor, next_value: torch.Tensor, gamma: float
) -> torch.Tensor:
    """``r_t + gamma * (1 - terminated_t) * next_value``; ``reward``/``terminated`` are ``[B, T]``,
    ``next_value`` is ``[B, T, K]`` for K heads (1 for a mixed Q_tot, n_agents for independent Qs)."""
    not_done = 1.0 - terminated.float().unsqueeze(-1)
    return reward.unsqueeze(-1) + gamma * not_done * next_value


def masked_max(values: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Max over available actions; 0 where no action is available (padding)."""
    best = values.masked_fill(~avail, float("-inf")).max(dim=-1).values
    return torch.where(avail.any(dim=-1), best, torch.zeros_like(best))


def chosen_q(q_all: torch.Tensor, actions: torch.Tensor, alive: torch.Tensor | None = None) -> torch.Tensor:
    """Each agent's Q at its action, ``q_all [..., n_agents, n_actions]``, ``actions [..., n_agents]`` ->
    ``[..., n_agents]``; departed agents (``alive`` false) get exactly 0."""
    chosen = q_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return chosen if alive is None else chosen * alive.float()


class QLearner(ReplayAlgorithm):
    """Deep Q-learning for a team, parameterised by a mixer (see the module docstring)."""

    Config = QLearningConfig
    action_kinds = ("discrete",)

    def __init__(self, spec: EnvSpec, config: QLearningConfig, device: str | torch.device = "cpu") -> None:
        super().__init__(spec, config, device)
        self.agent = build_network(spec, config.agent, spec.n_actions).to(self.device)
        self.mixer = self.build_mixer()
        if self.mixer is not None:
            self.mixer.to(self.device)
        self.target_agent = copy.deepcopy(self.agent).requires_grad_(False)
        self.target_mixer = copy.deepcopy(self.mixer)
        if self.target_mixer is not None:
            self.target_mixer.requires_grad_(False)
        self.params = list(self.agent.parameters()) + (list(self.mixer.parameters()) if self.mixer else [])
        self.optimizer = torch.optim.Adam(self.params, lr=config.lr, fused=self.device.type == "cpu" or None)
        self.epsilon = LinearSchedule(config.epsilon_start, config.epsilon_finish, config.epsilon_anneal_steps)
        self.rng = exploration_rng()
        # Acting with a feed-forward agent skips torch: see NumpyForward.
        self.fast_forward = NumpyForward(self.agent) if NumpyForward.supports(self.agent) else None
        self.reward_standardiser = RewardStandardiser(config.reward_stats)
        self.updates = 0

    # ----------------------------------------------------------------- what subclasses change
    def build_mixer(self) -> nn.Module | None:
        """The module that turns chosen per-agent Qs into Q_tot; None means independent learners."""
        return None

    def mix(self, mixer: nn.Module | None, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``agent_qs [B, T, n_agents]`` -> values trained by TD: ``[B, T, 1]`` or ``[B, T, n_agents]``."""
        if mixer is None:
            return agent_qs
        q_tot = mixer(agent_qs, state)
        if q_tot.shape != (*agent_qs.shape[:-1], 1):
            raise UserError(
                f"{type(mixer).__name__} returned Q_tot of shape {tuple(q_tot.shape)}; a mixer maps q "
                f"[B, T, n_agents] {tuple(agent_qs.shape)} and state [B, T, S] {tuple(state.shape)} to [B, T, 1] "
                f"{(*agent_qs.shape[:-1], 1)}"
            )
        return q_tot

    def q_tot(self, mixer: nn.Module | None, q_all: torch.Tensor, actions: torch.Tensor, state: torch.Tensor,
              avail: torch.Tensor | None = None, alive: torch.Tensor | None = None) -> torch.Tensor:
        """The values trained by TD (see :meth:`mix`) at joint actions ``actions [B, T, n_agents]``, given
        every agent's Qs ``q_all [B, T, n_agents, n_actions]``, ``avail`` and ``alive [B, T, n_agents]``
        (None: all available, all alive): by default the mixer applied to the chosen Q_i."""
        return self.mix(mixer, chosen_q(q_all, actions, alive), state)

    # ----------------------------------------------------------------- acting
    def init_hidden(self, batch: int) -> torch.Tensor | None:
        return self.agent.init_hidden(batch)

    @torch.no_grad()
    def act(self, obs, avail, hidden, *, explore: bool, t_env: int):
        if self.fast_forward is not None:
            q = self.fast_forward(obs.numpy())
        else:
            q, hidden = self.agent.step(obs.to(self.device), hidden)
            q = q.cpu().numpy()
        epsilon = self.epsilon(t_env) if explore else 0.0
        return torch.from_numpy(epsilon_greedy(q, avail.numpy(), epsilon, self.rng)), hidden

    def log_info(self, t_env: int) -> dict[str, float]:
        return {"epsilon": self.epsilon(t_env)}

    # ----------------------------------------------------------------- learning
    def update(self, batch: EpisodeBatch, t_env: int) -> dict[str, float]:
        loss, metrics = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        self.updates += 1
        if self.updates % self.config.target_update_interval == 0:
            self.update_targets()
        metrics["loss/grad_norm"] = float(grad_norm)
        return metrics

    def update_targets(self) -> None:
        self.target_agent.load_state_dict(self.agent.state_dict())
        if self.mixer is not None:
            self.target_mixer.load_state_dict(self.mixer.state_dict())

    def observe(self, episodes: EpisodeBatch) -> None:
        if self.config.standardise_rewards:
            self.reward_standardiser.observe(episodes.reward, episodes.filled)

    def rewards(self, batch: EpisodeBatch) -> torch.Tensor:
        """The batch's team rewards, standardised by running statistics if configured."""
        if not self.config.standardise_rewards:
            return batch.reward
        return self.reward_standardiser(batch.reward, batch.filled)

    def agent_values(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Chosen per-agent Qs ``[B, T, n]`` (with grad) and their bootstrap values ``[B, T, n]``.

        Departed agents contribute 0 to both, so their padded steps never reach a mixer or a loss.
        """
        q_all, target_all = self.unroll_agents(batch)
        with torch.no_grad():
            best = self.next_greedy_actions(q_all, target_all, batch.avail[:, 1:])
        return chosen_q(q_all[:, :-1], batch.actions, batch.alive[:, :-1]), chosen_q(target_all[:, 1:], best, batch.alive[:, 1:])

    def unroll_agents(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Every agent's Q for every action at every step, ``[B, T+1, n_agents, n_actions]``: the
        online network's (with grad) and the target network's (without)."""
        q_all, _ = self.agent.unroll(batch.obs)
        with torch.no_grad():
            target_all, _ = self.target_agent.unroll(batch.obs)
        return q_all, target_all

    def next_greedy_actions(self, q_all: torch.Tensor, target_all: torch.Tensor, next_avail: torch.Tensor) -> torch.Tensor:
        """The next actions u' that TD targets evaluate, ``[B, T, n_agents]``: each agent's argmax over
        its available actions, by the online network under double Q, else by the target network."""
        chooser = q_all if self.config.double_q else target_all
        return masked_argmax(chooser[:, 1:].detach(), next_avail)

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean squared TD error over real (filled) steps."""
        q_all, target_all = self.unroll_agents(batch)
        now, after = slice(None, -1), slice(1, None)
        q_tot = self.q_tot(self.mixer, q_all[:, now], batch.actions, batch.state[:, now], batch.avail[:, now], batch.alive[:, now])
        with torch.no_grad():
            next_u = self.next_greedy_actions(q_all, target_all, batch.avail[:, after])
            next_tot = self.q_tot(self.target_mixer, target_all[:, after], next_u, batch.state[:, after],
                                  batch.avail[:, after], batch.alive[:, after])
            targets = td_targets(self.rewards(batch), batch.terminated, next_tot, self.config.gamma)
        return self.td_loss(q_tot, targets, batch)

    def td_loss(self, q: torch.Tensor, targets: torch.Tensor, batch: EpisodeBatch,
                weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The squared TD error of ``q [B, T, K]`` against ``targets``, averaged over real (filled)
        steps (and, for independent learners, live agents), with each term scaled by ``weights``
        (shaped like ``q``) if given; and its metrics."""
        weight = batch.filled.float().unsqueeze(-1).expand_as(q)
        if self.mixer is None:  # independent learners: departed agents' own TD errors are padding
            weight = weight * batch.alive[:, :-1].float()
        td_error = torch.where(weight > 0, q - targets, torch.zeros_like(q))
        squared = td_error.pow(2) if weights is None else weights * td_error.pow(2)
        loss = squared.sum() / weight.sum().clamp_min(1.0)
        n = weight.sum().clamp_min(1.0)
        return loss, {
            "loss/td": float(loss.detach()),
            "loss/q_taken_mean": float((q.detach() * weight).sum() / n),
            "loss/target_mean": float((targets * weight).sum() / n),
        }

    # ----------------------------------------------------------------- inspection
    @torch.no_grad()
    def value_table(self, obs: torch.Tensor, state: torch.Tensor, avail: torch.Tensor) -> ValueTable:
        """Q_i at ``obs [n_agents, obs_dim]`` and, with a mixer, Q_tot(s, u) for every joint action u."""
        agent_q, _ = self.agent.step(obs.unsqueeze(0), self.init_hidden(1))
        agent_q = agent_q[0]
        if self.mixer is None:
            return ValueTable(agent_q, None)
        joint = joint_actions(self.spec.n_agents, self.spec.n_actions)
        values = self.joint_values(agent_q, joint, state)
        return ValueTable(agent_q, values.view([self.spec.n_actions] * self.spec.n_agents))

    def joint_values(self, agent_q: torch.Tensor, joint: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Q_tot(s, u) ``[K]`` for joint actions ``joint [K, n_agents]`` at one ``state``, given the
        agents' values ``agent_q [n_agents, n_actions]`` there: :meth:`q_tot` at each joint action."""
        every = agent_q.expand(1, len(joint), *agent_q.shape)
        return self.q_tot(self.mixer, every, joint.unsqueeze(0), state.expand(1, len(joint), -1))[0, :, 0]

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = {
            "agent": self.agent.state_dict(),
            "target_agent": self.target_agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "reward_stats": self.reward_standardiser.state_dict(),
            "updates": self.updates,
        }
        if self.mixer is not None:
            state["mixer"] = self.mixer.state_dict()
            state["target_mixer"] = self.target_mixer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.target_agent.load_state_dict(state["target_agent"])
        if self.mixer is not None:
            self.mixer.load_state_dict(state["mixer"])
            self.target_mixer.load_state_dict(state["target_mixer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.reward_standardiser.load_state_dict(state["reward_stats"])
        self.updates = int(state["updates"])
