"""Pixel preprocessing for image envs, and the ``pistonball`` catalogue entry.

:class:`PixelPreprocess` is what SuperSuit's ``color_reduction_v0``, ``resize_v1`` and
``frame_stack_v1`` do together, in one pass and at a fraction of their cost: each frame is sampled
at the centres of an ``H x W`` grid (nearest neighbour), turned grey (luminance), scaled to [0, 1]
and stacked with the previous frames along the last axis, newest last. SuperSuit's wrappers work
too (the adapter takes whatever they produce); on pistonball they cost more than the env itself.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from gymnasium import spaces
from pettingzoo.utils import BaseParallelWrapper

from marlzoo.errors import UserError

_LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0


class PixelPreprocess(BaseParallelWrapper):
    """Downsized, grey (optional) and frame-stacked observations of a ParallelEnv of images ``(H, W, 3)``.

    Observations become ``Box(0, 1, (size[0], size[1], frames * channels), float32)`` with
    ``channels`` 1 if ``grey`` else 3. ``state_fn``, if given, replaces the env's ``state()``.
    """

    def __init__(
        self,
        env: Any,
        size: tuple[int, int] = (32, 16),
        frames: int = 3,
        grey: bool = True,
        state_fn: Callable[[], np.ndarray] | None = None,
    ) -> None:
        super().__init__(env)
        h, w = (int(s) for s in size)
        if h < 1 or w < 1 or frames < 1:
            raise UserError(f"pixel preprocessing needs a positive size and frame count, not {size} and {frames}")
        self.size, self.frames, self.grey = (h, w), int(frames), bool(grey)
        self._state_fn = state_fn
        self._grids: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
        self._stacks: dict[Any, np.ndarray] = {}
        self._spaces: dict[Any, spaces.Box] = {}
        channels = 1 if grey else 3
        for agent in env.possible_agents:
            raw = env.observation_space(agent)
            if not isinstance(raw, spaces.Box) or len(raw.shape) != 3 or raw.shape[2] != 3:
                raise UserError(f"pixel preprocessing takes (H, W, 3) images, but agent '{agent}' observes {raw}")
            rows = ((np.arange(h) + 0.5) * raw.shape[0] / h).astype(np.intp)
            cols = ((np.arange(w) + 0.5) * raw.shape[1] / w).astype(np.intp)
            self._grids[agent] = (rows[:, None], cols[None, :])
            self._spaces[agent] = spaces.Box(0.0, 1.0, (h, w, frames * channels), np.float32)

    def observation_space(self, agent: Any) -> spaces.Box:
        return self._spaces[agent]

    def _frame(self, agent: Any, image: np.ndarray) -> np.ndarray:
        rows, cols = self._grids[agent]
        sampled = np.asarray(image)[rows, cols]
        if self.grey:
            return (sampled @ _LUMINANCE)[:, :, None]
        return sampled.astype(np.float32) * np.float32(1.0 / 255.0)

    def _push(self, observations: dict, reset: bool) -> dict:
        out = {}
        for agent, image in observations.items():
            frame = self._frame(agent, image)
            stack = self._stacks.get(agent)
            if reset or stack is None:
                stack = np.concatenate([frame] * self.frames, axis=-1)
            else:
                c = frame.shape[-1]
                stack = np.concatenate([stack[..., c:], frame], axis=-1)
            self._stacks[agent] = stack
            out[agent] = stack
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._push(observations, reset=True), infos

    def step(self, actions: dict):
        observations, rewards, terms, truncs, infos = self.env.step(actions)
        return self._push(observations, reset=False), rewards, terms, truncs, infos

    def state(self) -> np.ndarray:
        return self._state_fn() if self._state_fn is not None else self.env.state()


def _pistonball_state(raw: Any) -> Callable[[], np.ndarray]:
    """The ball's position, velocity and spin and every piston's height, scaled to about [-1, 1]."""
    w, h = float(raw.screen_width), float(raw.screen_height)

    def state() -> np.ndarray:
        ball = raw.ball
        pistons = [p.position[1] / h for p in raw.pistonList]
        return np.array(
            [ball.position[0] / w, ball.position[1] / h, ball.velocity[0] / w, ball.velocity[1] / h,
             ball.angular_velocity / 10.0, *pistons],
            dtype=np.float32,
        )

    return state


def pistonball(
    n_pistons: int = 5,
    max_cycles: int = 125,
    size: tuple[int, int] | list[int] = (32, 16),
    frames: int = 3,
    grey: bool = True,
    continuous: bool = False,
    **kwargs: Any,
) -> PixelPreprocess:
    """PettingZoo's pistonball_v6, preprocessed: ``n_pistons`` pistons that see ``frames`` grey
    ``size`` images each, with discrete actions (down, stay, up) unless ``continuous``.

    ``state()`` is a compact vector (ball position, velocity and spin, piston heights): pistonball's
    own state() is the whole screen. Other ``kwargs`` go to ``pistonball_v6.parallel_env``.
    """
    try:
        from pettingzoo.butterfly import pistonball_v6
    except ImportError as exc:
        raise UserError(f"pistonball needs pettingzoo[butterfly]: pip install 'marlzoo[butterfly]' ({exc})") from None
    # Without a render mode, pistonball_v6 never redraws its screen, so its observations never change.
    kwargs.setdefault("render_mode", "rgb_array")
    env = pistonball_v6.parallel_env(n_pistons=n_pistons, max_cycles=max_cycles, continuous=continuous, **kwargs)
    return PixelPreprocess(env, tuple(size), frames, grey, state_fn=_pistonball_state(env.unwrapped))
