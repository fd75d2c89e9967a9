"""Learned action values at one state, as tables: what ``marlzoo eval --qtable`` prints.

On an env with a single state (a matrix game) a value-based algorithm's whole policy is a table:
each agent's Q_i(a_i), and, for a value factorisation, Q_tot(s, u) for every joint action u. An
algorithm exposes it through :meth:`marlzoo.Algorithm.value_table`, returning a :class:`ValueTable`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from marlzoo.errors import UserError

MAX_JOINT_ACTIONS = 4096


@dataclass
class ValueTable:
    """``agent_q [n_agents, n_actions]``: each agent's Q_i(o_i, a) at the state.
    ``joint_q [n_actions] * n_agents``: Q_tot(s, u) indexed by the joint action, or None for
    independent learners, which learn no joint value."""

    agent_q: torch.Tensor
    joint_q: torch.Tensor | None

    def greedy(self, avail: torch.Tensor) -> tuple[int, ...]:
        """The decentralised greedy joint action: each agent's argmax of Q_i over its available actions."""
        return tuple(int(a) for a in self.agent_q.masked_fill(~avail, float("-inf")).argmax(dim=-1))

    def to_dict(self, avail: torch.Tensor) -> dict[str, Any]:
        return {
            "agent_q": self.agent_q.tolist(),
            "joint_q": None if self.joint_q is None else _nan_to_none(self.joint_q.tolist()),
            "greedy": list(self.greedy(avail)),
        }


def _nan_to_none(values: Any) -> Any:
    """NaN (an unavailable joint action) as None, so the table is valid JSON."""
    if isinstance(values, list):
        return [_nan_to_none(v) for v in values]
    return None if values != values else values


def joint_actions(n_agents: int, n_actions: int) -> torch.Tensor:
    """Every joint action as rows ``[n_actions ** n_agents, n_agents]``, the last agent's varying fastest."""
    count = n_actions**n_agents
    if count > MAX_JOINT_ACTIONS:
        raise UserError(
            f"a Q table of {n_agents} agents with {n_actions} actions has {count} joint actions, more than "
            f"{MAX_JOINT_ACTIONS}; --qtable is for small games"
        )
    return torch.tensor(list(itertools.product(range(n_actions), repeat=n_agents)), dtype=torch.long)


def mask_unavailable(table: ValueTable, avail: torch.Tensor) -> ValueTable:
    """NaN for joint actions in which some agent's action is unavailable (padding, masks)."""
    if table.joint_q is None:
        return table
    joint = table.joint_q.clone()
    for i in range(avail.shape[0]):
        index = [slice(None)] * avail.shape[0]
        index[i] = ~avail[i]
        joint[tuple(index)] = float("nan")
    return ValueTable(table.agent_q, joint)


def single_state(venv: Any, seeds: Sequence[int] = (0, 1, 2)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(obs, state, avail)`` of an env whose every episode is one step from the same state.

    ``venv`` is a one-copy :class:`~marlzoo.envs.vector.VectorEnv`; resets with several seeds must agree.
    """
    spec = venv.spec
    first = None
    for seed in seeds:
        venv.reset([seed])
        now = (venv.obs[0].copy(), venv.state[0].copy(), venv.avail[0].copy())
        if first is None:
            first = now
        elif not all(np.array_equal(a, b) for a, b in zip(first, now)):
            raise UserError(
                f"env '{spec.env_id}' starts from different states for different seeds; --qtable needs an env "
                "with a single state, such as the matrix games (nonmonotonic, climbing, penalty)"
            )
    if spec.episode_limit != 1:
        raise UserError(
            f"env '{spec.env_id}' has episodes of {spec.episode_limit} steps; --qtable needs an env with a single "
            "state and one-step episodes, such as the matrix games (nonmonotonic, climbing, penalty)"
        )
    obs, state, avail = first
    return torch.from_numpy(obs), torch.from_numpy(state), torch.from_numpy(avail)


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"


def format_value_table(table: ValueTable, agents: Sequence[str], avail: torch.Tensor) -> str:
    """Plain-text tables of Q_i per agent and of Q_tot over the joint actions, then the greedy joint action."""
    n_actions = table.agent_q.shape[1]
    width = max(9, max(len(a) for a in agents) + 2)
    lines = ["Q_i(a)".ljust(width) + "".join(f"{f'a={a}':>9}" for a in range(n_actions))]
    for name, row, ok in zip(agents, table.agent_q.tolist(), avail.tolist()):
        lines.append(name.ljust(width) + "".join(f"{_fmt(v) if k else '-':>9}" for v, k in zip(row, ok)))
    greedy = table.greedy(avail)
    if table.joint_q is None:
        lines.append("Q_tot: none (independent learners learn no joint value)")
    elif len(agents) == 2:
        lines.append("")
        lines.append(f"Q_tot(u)  rows: {agents[0]}'s action, columns: {agents[1]}'s action")
        lines.append(" " * width + "".join(f"{f'a={a}':>9}" for a in range(n_actions)))
        for a, row in enumerate(table.joint_q.tolist()):
            lines.append(f"a={a}".ljust(width) + "".join(f"{_fmt(v):>9}" for v in row))
    else:
        lines.append("")
        lines.append("Q_tot(u)  for each joint action u = (" + ", ".join(agents) + ")")
        for u in itertools.product(range(n_actions), repeat=len(agents)):
            lines.append(f"  {u}  {_fmt(float(table.joint_q[u]))}")
    tail = f"greedy joint action: {greedy}"
    if table.joint_q is not None:
        tail += f"  Q_tot {_fmt(float(table.joint_q[greedy]))}; max Q_tot {_fmt(float(table.joint_q.nan_to_num(float('-inf')).max()))}"
    lines.append(tail)
    return "\n".join(lines)
