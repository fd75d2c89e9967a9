"""Agent networks: an MLP or a GRU body, shared across agents (with a one-hot agent id) or one per agent.

Every algorithm builds its per-agent networks with :func:`build_network`, from the EnvSpec: the
input is the agents' observations (or the global state, one copy per agent, for a centralised
critic), plus any extra per-agent vector (a critic's joint action). A network maps
``x [..., n_agents, *in_shape]`` and ``extra [..., n_agents, extra_dim]`` to ``[..., n_agents, out_dim]``:
the encoder of :mod:`marlzoo.learning.encoders` (a CNN for images, nothing for vectors) runs on
``x``, then the body sees ``[encoded x, extra, one-hot agent id]``. ``step`` advances one time step
for acting; ``unroll`` runs whole sequences ``[B, T, n_agents, ...]`` in one call, so a recurrent
agent is unrolled once per batch, not once per sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from marlzoo.envs.spec import EnvSpec
from marlzoo.learning.encoders import EncoderConfig, make_encoder


@dataclass
class AgentNetConfig:
    """Shape of the per-agent network."""

    kind: str = "mlp"  # "mlp", or "gru" for partially observed envs
    hidden: int = 64
    share_params: bool = True
    agent_id: bool = True  # append a one-hot agent id to the input (only meaningful when shared)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # CNN for images; shared by all agents

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "gru"):
            raise ValueError(f"agent.kind must be 'mlp' or 'gru', not '{self.kind}'")


class _Body(nn.Module):
    """fc -> ReLU -> (GRU | fc -> ReLU) -> fc, over sequences ``[M, T, in]``."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, recurrent: bool) -> None:
        super().__init__()
        self.recurrent = recurrent
        self.fc_in = nn.Linear(in_dim, hidden)
        self.core = nn.GRU(hidden, hidden, batch_first=True) if recurrent else nn.Linear(hidden, hidden)
        self.fc_out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        # ReLU in place: a linear layer's backward never needs its own output, so autograd allows it,
        # and it saves allocating and writing a second activation the size of the first.
        x = torch.relu_(self.fc_in(x))
        if self.recurrent:
            x, h = self.core(x, h)
        else:
            x = torch.relu_(self.core(x))
        return self.fc_out(x), h


class AgentNetwork(nn.Module):
    """Per-agent network with parameter sharing (default) or one body per agent."""

    def __init__(self, in_dim: int | tuple[int, ...], out_dim: int, n_agents: int, config: AgentNetConfig,
                 extra_dim: int = 0) -> None:
        """``in_dim`` is the input size, or the input's shape (``spec.obs_shape``) to get an encoder;
        ``extra_dim`` the size of a vector joined to the encoded input. Use :func:`build_network`."""
        super().__init__()
        self.config = config
        self.encoder, in_dim = make_encoder(in_dim, config.encoder)
        self.n_agents = n_agents
        self.extra_dim = extra_dim
        self.recurrent = config.kind == "gru"
        self.use_id = config.share_params and config.agent_id
        body_in = in_dim + extra_dim + (n_agents if self.use_id else 0)
        n_bodies = 1 if config.share_params else n_agents
        self.bodies = nn.ModuleList(
            _Body(body_in, out_dim, config.hidden, self.recurrent) for _ in range(n_bodies)
        )
        self.register_buffer("agent_ids", torch.eye(n_agents), persistent=False)

    def init_hidden(self, batch: int) -> torch.Tensor | None:
        """Zero hidden state for ``batch`` env copies: ``[batch, n_agents, hidden]``, or None for MLPs."""
        if not self.recurrent:
            return None
        return torch.zeros(batch, self.n_agents, self.config.hidden, device=self.agent_ids.device)

    def _with_id(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Encoded inputs, then the extra vector, then the one-hot agent ids if shared."""
        if self.encoder is not None:
            x = self.encoder(x)
        parts = [x]
        if extra is not None:
            parts.append(extra)
        if self.use_id:
            parts.append(self.agent_ids.expand(*x.shape[:-2], self.n_agents, self.n_agents))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def unroll(self, x: torch.Tensor, hidden: torch.Tensor | None = None,
               extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sequences ``x [B, T, n_agents, *in]`` (and ``extra [B, T, n_agents, extra_dim]``) from
        ``hidden [B, n_agents, H]`` (zeros if None).

        Returns ``(out [B, T, n_agents, out], last hidden [B, n_agents, H] or None)``.
        """
        B, T, N = x.shape[:3]
        x = self._with_id(x, extra)
        if not self.recurrent:  # no time dependence: one 2-D pass over every step (and agent) at once
            # Folded to [rows, features] here rather than by the linear layers: their backward then
            # needs no reshaping copies of the 4-D activations. The values are the same, bit for bit.
            if len(self.bodies) == 1:
                return self.bodies[0](x.reshape(B * T * N, -1), None)[0].view(B, T, N, -1), None
            return torch.stack([body(x[:, :, i].reshape(B * T, -1), None)[0].view(B, T, -1)
                                for i, body in enumerate(self.bodies)], dim=2), None
        if len(self.bodies) == 1:
            seq = x.permute(0, 2, 1, 3).reshape(B * N, T, -1)
            h = None if hidden is None or not self.recurrent else hidden.reshape(1, B * N, -1)
            out, h = self.bodies[0](seq, h)
            out = out.reshape(B, N, T, -1).permute(0, 2, 1, 3)
            h = None if h is None else h.reshape(B, N, -1)
            return out, h
        outs, hs = [], []
        for i, body in enumerate(self.bodies):
            h = None if hidden is None or not self.recurrent else hidden[:, i].unsqueeze(0).contiguous()
            out, h = body(x[:, :, i], h)
            outs.append(out)
            hs.append(h)
        return torch.stack(outs, dim=2), torch.stack([h[0] for h in hs], dim=1)

    def step(self, x: torch.Tensor, hidden: torch.Tensor | None,
             extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One time step: ``x [B, n_agents, *in]`` -> ``(out [B, n_agents, out], hidden)``."""
        if not self.recurrent and len(self.bodies) == 1:
            return self.bodies[0](self._with_id(x, extra), None)[0], None
        out, hidden = self.unroll(x.unsqueeze(1), hidden, None if extra is None else extra.unsqueeze(1))
        return out.squeeze(1), hidden


def build_network(spec: EnvSpec, config: AgentNetConfig, out_dim: int, *, source: str = "obs",
                  extra_dim: int = 0) -> AgentNetwork:
    """The per-agent network every algorithm builds, from the env's spec.

    ``source="obs"`` reads each agent's observation (``spec.obs_shape``: a CNN for images, as
    ``config.encoder`` says); ``source="state"`` reads the global state, one copy per agent (a
    centralised critic). ``extra_dim`` is the size of a per-agent vector joined after the encoder
    (a critic's joint action), passed as ``extra=`` to :meth:`AgentNetwork.step` and ``unroll``.
    """
    if source == "obs":
        shape: tuple[int, ...] = spec.obs_shape
    elif source == "state":
        shape = (spec.state_dim,)
    else:
        raise ValueError(f"build_network: source must be 'obs' or 'state', not {source!r}")
    return AgentNetwork(shape, out_dim, spec.n_agents, config, extra_dim)


class NumpyForward:
    """A feed-forward :class:`AgentNetwork`'s forward pass in numpy, for acting.

    Acting calls the network once per env step on a few dozen rows, where torch's per-op dispatch
    (10-20 us per op here) costs several times the arithmetic. The arrays below are views of the
    network's parameters, not copies: in-place optimiser steps and ``load_state_dict`` show through
    at once. The shared network's one-hot agent id enters as a per-agent bias (the id columns of the
    first layer's weight), which is the same product without building the concatenated input.
    """

    def __init__(self, net: AgentNetwork) -> None:
        if not self.supports(net):
            raise ValueError("NumpyForward needs a feed-forward network on the CPU, without an encoder or extra inputs")
        self.use_id = net.use_id
        self.bodies = [self._views(body) for body in net.bodies]

    @staticmethod
    def supports(net: AgentNetwork) -> bool:
        """True for a feed-forward network without an encoder or extra inputs, on the CPU."""
        return (not net.recurrent and net.encoder is None and net.extra_dim == 0
                and net.agent_ids.device.type == "cpu")

    @staticmethod
    def _views(body: _Body) -> tuple:
        view = lambda t: t.detach().numpy()  # noqa: E731 - shares memory with the parameter
        return (view(body.fc_in.weight), view(body.fc_in.bias), view(body.core.weight), view(body.core.bias),
                view(body.fc_out.weight), view(body.fc_out.bias))

    def _body(self, layers: tuple, x: np.ndarray, first_bias: np.ndarray) -> np.ndarray:
        """``x [..., in]`` through one body; ``first_bias`` broadcasts against ``[..., H]``."""
        w_in, _, w_core, b_core, w_out, b_out = layers
        lead = x.shape[:-1]
        h = x.reshape(-1, x.shape[-1]) @ w_in[:, : x.shape[-1]].T  # one 2-D product for every row
        h.reshape(*lead, -1)[...] += first_bias
        np.maximum(h, 0.0, out=h)
        h = h @ w_core.T
        h += b_core
        np.maximum(h, 0.0, out=h)
        out = h @ w_out.T
        out += b_out
        return out.reshape(*lead, -1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x [B, n_agents, in]`` (float32) -> ``[B, n_agents, out]``, as :meth:`AgentNetwork.step`."""
        if len(self.bodies) == 1:
            layers = self.bodies[0]
            w_in, b_in = layers[0], layers[1]
            bias = b_in + w_in[:, x.shape[-1]:].T if self.use_id else b_in  # [n_agents, H] or [H]
            return self._body(layers, x, bias)
        return np.stack([self._body(layers, x[:, i], layers[1]) for i, layers in enumerate(self.bodies)], axis=1)
