"""A PettingZoo env as one Gymnasium env, for single-agent libraries (Stable-Baselines3, ...).

``to_gymnasium(env, mode="centralized")`` puts one controller in charge of the whole team:
  observation  the agents' observations, padded and concatenated (``observation="joint"``), or the
               env's state (``observation="state"``), as one float32 vector
  action       the joint action: ``MultiDiscrete`` of every agent's action count for discrete agents,
               one ``Box`` of every agent's bounds, concatenated, for continuous ones
  reward       the team reward (the adapter's: the sum, or mean, over agents)
  episode end  when every agent is done (terminated), or at the episode limit (truncated)
Everything goes through :func:`~marlzoo.envs.adapter.make_adapter`, so every env marlzoo
takes (SuperSuit-wrapped, turn-based, composite spaces, Gymnasium multi-agent) exports the same way. Agents that have left,
or wait for their turn, have their part of the joint action ignored. A joint action that picks a
masked action for an agent gets that agent's first legal action instead; ``info["masked_actions"]``
counts these, and :meth:`CentralizedEnv.action_masks` gives the masks (as sb3-contrib's
MaskablePPO reads them). Rendering passes through: ``to_gymnasium("simple_spread",
render_mode="rgb_array").render()`` is the PettingZoo env's frame.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from marlzoo.envs.adapter import Adapter, make_adapter
from marlzoo.errors import UserError


class CentralizedEnv(gymnasium.Env):
    """One Gymnasium env that controls every agent of a PettingZoo env at once.

    It draws as the PettingZoo env does: ``render_mode``, ``metadata["render_modes"]`` and
    ``metadata["render_fps"]`` are the env's, and :meth:`render` returns what the env's ``render()``
    does (an ``(H, W, 3)`` uint8 frame in ``rgb_array`` mode).
    """

    metadata = {"render_modes": []}

    def __init__(self, adapter: Adapter, observation: str = "joint") -> None:
        if observation not in ("joint", "state"):
            raise UserError(f"to_gymnasium: observation must be 'joint' or 'state', not '{observation}'")
        self.adapter = adapter
        source = getattr(adapter.env, "metadata", None) or {}
        self.metadata = {"render_modes": list(source.get("render_modes", []))}
        if "render_fps" in source:
            self.metadata["render_fps"] = source["render_fps"]
        self.render_mode = getattr(adapter.env, "render_mode", None)
        self.spec_marl = spec = adapter.spec
        self._use_state = observation == "state"
        size = spec.state_dim if self._use_state else spec.n_agents * spec.obs_dim
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self._sizes = np.asarray(spec.action_sizes)
        if spec.action_kind == "discrete":
            self.action_space = spaces.MultiDiscrete(self._sizes)
        else:
            low = np.concatenate([np.asarray(b, np.float32) for b in spec.action_low])
            high = np.concatenate([np.asarray(b, np.float32) for b in spec.action_high])
            self.action_space = spaces.Box(low, high, dtype=np.float32)
            self._splits = np.cumsum(self._sizes)[:-1]
        self._actions = np.zeros((spec.n_agents, spec.n_actions if spec.action_kind == "continuous" else 1),
                                 dtype=np.float32 if spec.action_kind == "continuous" else np.int64)

    def _observation(self) -> np.ndarray:
        return (self.adapter.state if self._use_state else self.adapter.obs.reshape(-1)).copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.adapter.reset(seed=seed)
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        spec, adapter = self.spec_marl, self.adapter
        masked = 0
        if spec.action_kind == "discrete":
            chosen = np.asarray(action, dtype=np.int64).reshape(-1)
            avail, alive = adapter.avail, adapter.alive
            for i in range(spec.n_agents):
                a = int(chosen[i])
                if alive[i] and not (a < spec.action_sizes[i] and avail[i, a]):
                    legal = np.flatnonzero(avail[i, : spec.action_sizes[i]])
                    if legal.size:  # else the agent waits for its turn: its action is not used
                        a, masked = int(legal[0]), masked + 1
                self._actions[i, 0] = a
            actions = self._actions[:, 0]
        else:
            parts = np.split(np.asarray(action, dtype=np.float32).reshape(-1), self._splits)
            for i, part in enumerate(parts):
                self._actions[i, : part.size] = part
            actions = self._actions
        reward, terminated, truncated = adapter.step(actions)
        return self._observation(), float(reward), bool(terminated), bool(truncated), {"masked_actions": masked}

    def action_masks(self) -> np.ndarray:
        """Every agent's legal actions, concatenated (all legal for an agent that cannot act now)."""
        spec, adapter = self.spec_marl, self.adapter
        masks = []
        for i, size in enumerate(spec.action_sizes):
            own = adapter.avail[i, :size] if spec.action_kind == "discrete" else np.ones(size, bool)
            masks.append(own if own.any() else np.ones(size, dtype=bool))
        return np.concatenate(masks)

    def render(self) -> Any:
        """The PettingZoo env's ``render()``: a frame in ``rgb_array`` mode, None without a render mode."""
        return self.adapter.render()

    def close(self) -> None:
        self.adapter.close()


def to_gymnasium(
    env: Any,
    mode: str = "centralized",
    observation: str = "joint",
    render_mode: str | None = None,
    **adapter_kwargs: Any,
) -> CentralizedEnv:
    """A Gymnasium env that controls every agent of ``env`` as one (see the module docstring).

    ``env`` is a PettingZoo ParallelEnv or AECEnv, a Gymnasium multi-agent env, an adapter built by :func:`make_adapter`
    (an :class:`~marlzoo.envs.adapter.Adapter`), or the name of a catalogue env (built with its
    config's kwargs, like ``marlzoo run --env NAME``).
    ``render_mode`` (``"rgb_array"``, ``"human"``) builds a named env that draws; an env you built
    yourself draws in the render mode you built it with.
    ``adapter_kwargs`` (``episode_limit``, ``reward_aggregation``, ``state``) go to the adapter.
    """
    if mode != "centralized":
        raise UserError(
            f"to_gymnasium: mode '{mode}' is not supported; marlzoo exports mode='centralized' (one controller "
            "for the team); for one shared policy over every agent use supersuit.pettingzoo_env_to_vec_env_v1"
        )
    if isinstance(env, str):
        return CentralizedEnv(_named_env(env, adapter_kwargs, render_mode), observation)
    if isinstance(env, Adapter):
        if adapter_kwargs:
            raise UserError("to_gymnasium: adapter options go to the adapter you built, not here")
        adapter = env
    else:
        name = str(getattr(env, "metadata", {}).get("name", type(env).__name__))
        adapter = make_adapter(env, name, **adapter_kwargs)
    built_with = getattr(adapter.env, "render_mode", None)
    if render_mode is not None and built_with != render_mode:
        raise UserError(
            f"to_gymnasium: this env was built with render_mode={built_with!r}; render_mode='{render_mode}' is for "
            f"named envs: build your PettingZoo env with render_mode='{render_mode}' instead"
        )
    return CentralizedEnv(adapter, observation)


def _named_env(name: str, adapter_kwargs: dict[str, Any], render_mode: str | None) -> Adapter:
    """A catalogue env with the ``env:`` section of configs/default.yaml and configs/envs/<name>.yaml."""
    from marlzoo.config import CONFIG_DIR, EnvConfig, build_dataclass, merge, read_yaml
    from marlzoo.envs.catalogue import make_env

    layers = [(read_yaml(CONFIG_DIR / "default.yaml"), "configs/default.yaml")]
    path = CONFIG_DIR / "envs" / f"{name}.yaml"
    if "/" not in name and path.is_file():
        layers.append((read_yaml(path), f"configs/envs/{name}.yaml"))
    merged, sources = merge(layers)
    cfg = build_dataclass(EnvConfig, {**merged.get("env", {}), "name": name}, "env", sources)
    options = {"episode_limit": cfg.episode_limit, "reward_aggregation": cfg.reward_aggregation, "state": cfg.state,
               "scale_obs": cfg.scale_obs}
    return make_env(cfg.name, cfg.kwargs, **{**options, **adapter_kwargs}, render_mode=render_mode)
