"""Every agent takes its first available action, written against 0.1's bare contract: a subclass of
marlzoo.Algorithm that declares its buffer by name and learns with learn(buffer, t_env)."""

import torch

from marlzoo import Algorithm


class FirstAction(Algorithm):
    buffer = "episodes"
    action_kinds = ("discrete",)

    def act(self, obs, avail, hidden, *, explore, t_env):
        return avail.to(torch.int8).argmax(dim=-1), hidden

    def learn(self, buffer, t_env):
        return {"loss/stored": float(buffer.size)}

    def state_dict(self):
        return {"kind": "first action"}

    def load_state_dict(self, state):
        assert state["kind"] == "first action"
