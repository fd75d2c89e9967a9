"""A vector env that keeps what its copies draw, episode by episode, for ``marlzoo eval --render``."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from marlzoo.envs.adapter import Adapter
from marlzoo.envs.vector import VectorEnv
from marlzoo.errors import UserError

DEFAULT_FPS = 10.0  # for an env whose metadata has no render_fps


class RecordingVectorEnv(VectorEnv):
    """A :class:`VectorEnv` whose copies are drawn at every reset and after every step they take.

    The copies must be built with ``render_mode="rgb_array"``. Each frame, an ``(H, W, 3)`` uint8
    image of one size for every copy, is passed through ``keep`` (a copy by default) and stored, so
    an episode of ``T`` steps keeps ``T + 1`` frames. Stepping and resetting are exactly those of a
    :class:`VectorEnv`: drawing reads the env's state and never changes it.
    Attributes: ``frame_shape`` and ``fps``, the env's ``render_fps``.
    """

    def __init__(self, make_env: Callable[[], Adapter], n: int, keep: Callable[[np.ndarray], Any] = np.copy) -> None:
        super().__init__(make_env, n)
        self._keep = keep
        self._episodes: list[list[list[Any]]] = [[] for _ in range(n)]  # per copy, per episode: frames
        first = self.envs[0]
        # Draw once before any episode, so that an env which cannot draw is refused before a run starts.
        # The runner's first reset of each copy is seeded, so this reset changes no episode.
        first.reset(seed=0)
        self.frame_shape: tuple[int, ...] = self._checked(first).shape
        self.fps = float(getattr(first.env, "metadata", {}).get("render_fps") or DEFAULT_FPS)

    def _checked(self, env: Adapter) -> np.ndarray:
        try:
            frame = env.render()
        except NotImplementedError:
            raise UserError(f"env '{env.env_id}' does not implement render(), so it cannot be drawn") from None
        if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3):
            got = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise UserError(f"env '{env.env_id}': render() returned {got}, not an RGB image (H, W, 3) of uint8; "
                            "only an env with an 'rgb_array' render mode can be drawn")
        if getattr(self, "frame_shape", frame.shape) != frame.shape:
            raise UserError(f"env '{env.env_id}' drew a frame of shape {frame.shape} after one of {self.frame_shape}; "
                            "an animation needs frames of one size")
        return frame

    def _capture(self, i: int) -> Any:
        return self._keep(self._checked(self.envs[i]))

    def reset(self, seeds: Sequence[int | None]) -> None:
        super().reset(seeds)
        for i in range(self.n):
            self._episodes[i].append([self._capture(i)])

    def reset_where(self, mask: np.ndarray, seeds: Sequence[int | None] | None = None) -> None:
        super().reset_where(mask, seeds)
        for i in np.flatnonzero(mask):
            self._episodes[i].append([self._capture(i)])

    def step(self, actions: np.ndarray, active: np.ndarray) -> None:
        super().step(actions, active)
        for i in np.flatnonzero(active):
            self._episodes[i][-1].append(self._capture(i))

    def episodes(self) -> list[list[Any]]:
        """Every episode's frames, in the order :meth:`EpisodeRunner.evaluate
        <marlzoo.training.runner.EpisodeRunner.evaluate>` counts them: the copies' first episodes in
        copy order, then their second ones, and so on."""
        rounds = max(len(copy) for copy in self._episodes)
        return [copy[r] for r in range(rounds) for copy in self._episodes if r < len(copy)]
