"""How one agent's PettingZoo spaces become rows of marlzoo's fixed arrays.

Every decision about a space is taken once, when the adapter is built, and kept in a codec:

* an :class:`ObsCodec` writes one agent's raw observation into its row of ``obs`` and hands back
  the action mask the observation carried (if any);
* an :class:`ActionCodec` turns the index an algorithm chose back into what the env expects, and an
  env's action mask into a mask over those indices.

Observations
  ``Box`` of rank 1           copied as is (padded with zeros up to the widest agent); with the
                              adapter's ``scale_obs``, scaled from its bounds to [0, 1] where they are finite
  ``Box`` image               rank 3 ``(H, W, C)`` (PettingZoo's layout) or ``(C, H, W)``, or rank 2
                              ``(H, W)``, with both sides >= :data:`IMAGE_MIN_SIDE`: stored channel-first
                              ``(C, H, W)``, and scaled to [0, 1] when the Box spans 0..255 (raw pixels)
  other ``Box``               flattened
  ``Discrete``                one-hot
  ``MultiBinary``, ``MultiDiscrete``, ``Tuple``, ``Dict``
                              flattened into one vector (``gymnasium.spaces.flatten``: one-hot for
                              discrete parts); a Dict key ``action_mask`` is the action mask and is
                              not part of the observation; a Dict of exactly ``observation`` and
                              ``action_mask`` (PettingZoo's convention) keeps the observation's own codec
Actions
  ``Discrete``                one index per action (``start`` added back)
  ``MultiDiscrete``/``MultiBinary``
                              one Discrete over the product of the components, C order: index
                              ``k`` is ``np.unravel_index(k, nvec)``; masks are flattened to match
  ``Box`` of rank 1           continuous
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import math
from typing import Any

import numpy as np
from gymnasium import spaces

from marlzoo.errors import UserError

IMAGE_MIN_SIDE = 8
MASK_KEY = "action_mask"
MAX_JOINT_ACTIONS = 4096  # the largest MultiDiscrete product flattened into one Discrete

_LEAVES = (spaces.Box, spaces.Discrete, spaces.MultiBinary, spaces.MultiDiscrete)


def _where(env_id: str, agent: str) -> str:
    return f"env '{env_id}', agent '{agent}'"


# ----------------------------------------------------------------------------- observations
def image_layout(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The axis order that makes ``shape`` channel-first ``(C, H, W)``, or None if it is not an image.

    Rank 2 ``(H, W)`` is one channel; rank 3 is channel-last when the last axis is the smallest,
    channel-first when the first is; both sides must be at least :data:`IMAGE_MIN_SIDE`.
    """
    if len(shape) == 2:
        return (0, 1) if min(shape) >= IMAGE_MIN_SIDE else None
    if len(shape) != 3:
        return None
    if shape[2] < min(shape[0], shape[1]) and min(shape[:2]) >= IMAGE_MIN_SIDE:
        return (2, 0, 1)
    if shape[0] < min(shape[1], shape[2]) and min(shape[1:]) >= IMAGE_MIN_SIDE:
        return (0, 1, 2)
    return None


def _is_pixel_box(space: spaces.Box) -> bool:
    return bool(np.all(space.low == 0) and np.all(space.high == 255))


class ObsCodec(ABC):
    """Writes one agent's observation into its row of the obs array.

    ``shape`` is the row's shape as stored (``(size,)`` or ``(C, H, W)``), ``plain`` says the raw
    value can be assigned to ``row[:size]`` directly (the adapter's fast path), ``note`` describes the
    transformation for the EnvSpec.
    """

    plain = False
    image = False

    def __init__(self, shape: tuple[int, ...], note: str) -> None:
        self.shape = shape
        self.size = math.prod(shape)
        self.note = note

    @abstractmethod
    def write(self, value: Any, row: np.ndarray) -> np.ndarray | None:
        """Write ``value`` into ``row`` (zeros beyond this agent's size); return its action mask, if any."""
        raise NotImplementedError


class VectorCodec(ObsCodec):
    """A Box, flattened (a no-op for rank 1)."""

    def __init__(self, space: spaces.Box) -> None:
        super().__init__((int(math.prod(space.shape)),), "" if len(space.shape) == 1 else f"Box{space.shape} flattened")
        self.plain = len(space.shape) == 1

    def write(self, value, row):
        row[: self.size] = np.reshape(value, -1)
        return None


class BoundsCodec(ObsCodec):
    """A rank-1 Box with finite bounds, mapped linearly from ``[low, high]`` onto ``[0, 1]``
    (an entry whose bounds coincide becomes 0)."""

    def __init__(self, space: spaces.Box) -> None:
        super().__init__((int(space.shape[0]),), "Box scaled from its bounds to [0, 1]")
        span = (space.high - space.low).astype(np.float32)
        self.low = space.low.astype(np.float32)
        self.inverse_span = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)

    def write(self, value, row):
        np.multiply(np.subtract(value, self.low, dtype=np.float32), self.inverse_span, out=row[: self.size])
        return None


def has_finite_bounds(space: spaces.Space) -> bool:
    """Whether ``space`` is a rank-1 Box whose every bound is finite."""
    return (isinstance(space, spaces.Box) and len(space.shape) == 1
            and bool(np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))))


class ImageCodec(ObsCodec):
    """A Box image, stored channel-first and scaled to [0, 1] if it holds raw pixels."""

    image = True

    def __init__(self, space: spaces.Box, layout: tuple[int, ...]) -> None:
        shape = space.shape if len(space.shape) == 3 else (1, *space.shape)
        chw = tuple(int(shape[a]) for a in layout) if len(space.shape) == 3 else tuple(int(s) for s in shape)
        self.scale = np.float32(1.0 / 255.0) if _is_pixel_box(space) else None
        self.layout = layout
        parts = [f"image {space.shape}"]
        if layout == (2, 0, 1):
            parts.append("moved to channel-first")
        if self.scale is not None:
            parts.append("scaled from 0..255 to [0, 1]")
        super().__init__(chw, ", ".join(parts) + f" -> {chw}")

    def write(self, value, row):
        value = np.asarray(value)
        if value.ndim == 2:
            value = value[None]
        elif self.layout == (2, 0, 1):
            value = value.transpose(2, 0, 1)
        if self.scale is None:
            np.copyto(row, value, casting="unsafe")
        else:
            np.multiply(value, self.scale, out=row, dtype=np.float32)
        return None


class OneHotCodec(ObsCodec):
    """A Discrete observation, one-hot."""

    def __init__(self, space: spaces.Discrete) -> None:
        super().__init__((int(space.n),), f"Discrete({space.n}) one-hot")
        self.start = int(space.start)

    def write(self, value, row):
        row[: self.size] = 0.0
        row[int(value) - self.start] = 1.0
        return None


class FlattenCodec(ObsCodec):
    """A composite observation (Tuple, Dict, MultiBinary, MultiDiscrete) as one vector."""

    def __init__(self, space: spaces.Space) -> None:
        super().__init__((int(spaces.flatdim(space)),), f"{type(space).__name__} flattened")
        self.space = space

    def write(self, value, row):
        row[: self.size] = spaces.flatten(self.space, value)
        return None


class MaskedDictCodec(ObsCodec):
    """A Dict with an ``action_mask`` key: the mask is returned, the rest goes through ``inner``."""

    def __init__(self, inner: ObsCodec, keys: tuple[str, ...] | None) -> None:
        note = (inner.note + ", " if inner.note else "") + "action_mask read from the observation"
        super().__init__(inner.shape, note)
        self.inner = inner
        self.image = inner.image
        self.keys = keys  # None: the Dict is {observation, action_mask}; else the keys flattened

    def write(self, value, row):
        if self.keys is None:
            self.inner.write(value["observation"], row)
        else:
            self.inner.write({k: value[k] for k in self.keys}, row)
        return value[MASK_KEY]


def _check_leaves(space: spaces.Space, env_id: str, agent: str, whole: spaces.Space) -> None:
    if isinstance(space, _LEAVES):
        return
    if isinstance(space, spaces.Tuple):
        for sub in space.spaces:
            _check_leaves(sub, env_id, agent, whole)
        return
    if isinstance(space, spaces.Dict):
        for sub in space.spaces.values():
            _check_leaves(sub, env_id, agent, whole)
        return
    raise UserError(
        f"{_where(env_id, agent)}: observation space {whole} is not supported (its part {space} has no fixed size); "
        "marlzoo takes Box, Discrete, MultiBinary, MultiDiscrete, or a Tuple/Dict of them; "
        "turn it into a Box with supersuit.observation_lambda_v0"
    )


def observation_codec(space: spaces.Space, env_id: str, agent: str, scale_obs: bool = False) -> ObsCodec:
    """The codec for one agent's observation space; a :class:`UserError` if marlzoo cannot take it.

    With ``scale_obs``, a rank-1 Box with finite bounds is scaled from its bounds to [0, 1]
    (:class:`BoundsCodec`); every other space is read as without it.
    """
    if scale_obs and has_finite_bounds(space) and image_layout(space.shape) is None:
        return BoundsCodec(space)
    if isinstance(space, spaces.Dict) and MASK_KEY in space.spaces:
        rest = {k: s for k, s in space.spaces.items() if k != MASK_KEY}
        if not rest:
            raise UserError(f"{_where(env_id, agent)}: observation space {space} holds an action_mask and nothing else")
        if set(rest) == {"observation"}:
            return MaskedDictCodec(observation_codec(rest["observation"], env_id, agent), None)
        sub = spaces.Dict(rest)
        _check_leaves(sub, env_id, agent, space)
        return MaskedDictCodec(FlattenCodec(sub), tuple(rest))
    if isinstance(space, spaces.Box):
        layout = image_layout(space.shape)
        return ImageCodec(space, layout) if layout is not None else VectorCodec(space)
    if isinstance(space, spaces.Discrete):
        return OneHotCodec(space)
    _check_leaves(space, env_id, agent, space)
    return FlattenCodec(space)


# ----------------------------------------------------------------------------- actions
class ActionCodec(ABC):
    """Maps marlzoo's action for one agent back to the env's, and the env's action mask to marlzoo's.

    ``kind`` is ``"discrete"`` or ``"continuous"``; ``size`` the number of discrete actions (or the
    action dimension); ``plain`` means a discrete action is ``index + start`` (the fast path).
    """

    plain = False
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None

    def __init__(self, kind: str, size: int, note: str = "") -> None:
        self.kind = kind
        self.size = size
        self.note = note

    @abstractmethod
    def decode(self, action: Any) -> Any:
        raise NotImplementedError

    def mask(self, mask: Any) -> np.ndarray:
        """The env's action mask as a bool vector over this codec's ``size`` actions."""
        return np.asarray(mask, dtype=bool).reshape(-1)


class DiscreteCodec(ActionCodec):
    plain = True

    def __init__(self, space: spaces.Discrete) -> None:
        super().__init__("discrete", int(space.n))
        self.start = int(space.start)

    def decode(self, action):
        return int(action) + self.start


class ProductCodec(ActionCodec):
    """MultiDiscrete (or MultiBinary) as one Discrete over the product of its components."""

    def __init__(self, space: spaces.Space, env_id: str, agent: str) -> None:
        if isinstance(space, spaces.MultiBinary):
            nvec, start, dtype = np.full(int(np.prod(space.shape)), 2), 0, space.dtype
        else:
            nvec, start, dtype = np.asarray(space.nvec), np.asarray(space.start), space.dtype
        if nvec.ndim != 1:
            raise UserError(
                f"{_where(env_id, agent)}: action space {space} has a {nvec.ndim}-D nvec; marlzoo flattens only "
                "1-D MultiDiscrete actions; reshape them with supersuit.action_lambda_v1"
            )
        total = int(np.prod(nvec))
        if total > MAX_JOINT_ACTIONS:
            raise UserError(
                f"{_where(env_id, agent)}: action space {space} has {total} combinations, more than the "
                f"{MAX_JOINT_ACTIONS} marlzoo flattens into one Discrete; offer fewer combinations with "
                "supersuit.action_lambda_v1"
            )
        super().__init__("discrete", total, f"{space} flattened into Discrete({total})")
        self.nvec = tuple(int(n) for n in nvec)
        self.table = (np.stack(np.unravel_index(np.arange(total), self.nvec), axis=-1) + start).astype(dtype)
        self._space = space
        self._where = _where(env_id, agent)

    def decode(self, action):
        return self.table[int(action)].copy()

    def mask(self, mask):
        """Accepts a joint mask (``prod(nvec)`` entries, or shape ``nvec``), one mask per component
        (a tuple, or their concatenation of ``sum(nvec)`` entries)."""
        if isinstance(mask, (tuple, list)) and len(mask) == len(self.nvec) and not np.isscalar(mask[0]):
            parts = [np.asarray(m, dtype=bool).reshape(-1) for m in mask]
        else:
            flat = np.asarray(mask, dtype=bool).reshape(-1)
            if flat.size == self.size:
                return flat
            if flat.size != sum(self.nvec):
                raise UserError(
                    f"{self._where}: an action_mask of {flat.size} entries does not fit action space {self._space}; "
                    f"give {self.size} entries (one per combination) or {sum(self.nvec)} (one per component value)"
                )
            parts = np.split(flat, np.cumsum(self.nvec)[:-1])
        joint = parts[0]
        for part in parts[1:]:
            joint = (joint[:, None] & part[None, :]).reshape(-1)
        return joint


class BoxCodec(ActionCodec):
    def __init__(self, space: spaces.Box) -> None:
        super().__init__("continuous", int(space.shape[0]))
        self.low = tuple(float(x) for x in space.low)
        self.high = tuple(float(x) for x in space.high)

    def decode(self, action):
        return action[: self.size]


def action_codec(space: spaces.Space, env_id: str, agent: str) -> ActionCodec:
    """The codec for one agent's action space; a :class:`UserError` if marlzoo cannot take it."""
    if isinstance(space, spaces.Discrete):
        return DiscreteCodec(space)
    if isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
        return ProductCodec(space, env_id, agent)
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        return BoxCodec(space)
    if isinstance(space, spaces.Box):
        hint = "flatten them to a 1-D Box with supersuit.action_lambda_v1"
    else:
        hint = "wrap the env so that each agent has one Discrete, MultiDiscrete or 1-D Box action"
    raise UserError(
        f"{_where(env_id, agent)}: action space {space} is not supported; marlzoo takes Discrete, "
        f"MultiDiscrete, MultiBinary or 1-D Box actions; {hint}"
    )
