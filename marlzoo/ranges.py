"""The values a numeric config key allows, declared once and checked as a config is loaded.

A key's range comes from, first to last:
  1. its dataclass field's metadata, ``field(default=..., metadata={RANGE: Range(...)})``: how an
     algorithm (a plugin's too) declares a range for a key of its own, or changes a common one
     (``Range()`` allows every value);
  2. :data:`COMMON`, the ranges of the names every algorithm shares (``lr``, ``gamma``,
     ``batch_size``, ``hidden`` ...), whichever config dataclass holds them.
A key with neither takes any value of its type, except that a float must be finite (no NaN, no inf).
:func:`marlzoo.config.build_dataclass` checks every key a config sets; the defaults are not checked.
Ranges never change a default or add a key, so cache keys of cached cells stay as they were.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

RANGE = "marlzoo.range"  # the field-metadata key


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (``None``: unbounded), each end included unless ``*_open``.
    ``text`` replaces the generated description of what is allowed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    text: str | None = None

    def allows(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        if self.text:
            return self.text
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'greater than' if self.low_open else 'at least'} {low}"
        if self.high is not None:
            return f"{'less than' if self.high_open else 'at most'} {high}"
        return "a finite number"


def _number(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
UNIT = Range(0, 1)  # a probability, a discount, a GAE lambda
SEED = Range(0, 2**32 - 1, text="an integer from 0 to 2**32 - 1 (numpy's range)")

COMMON: dict[str, Range] = {
    # run settings
    "seed": SEED, "steps": AT_LEAST_1, "n_envs": AT_LEAST_1, "log_interval": AT_LEAST_1,
    "test_interval": AT_LEAST_1, "test_episodes": AT_LEAST_1, "checkpoint_interval": AT_LEAST_1,
    "keep_checkpoints": NON_NEGATIVE,
    "torch_threads": Range(1, 1024), "episode_limit": AT_LEAST_1,
    # learning rates, discounts and the like
    "lr": POSITIVE, "critic_lr": POSITIVE, "alpha": Range(0, 1, low_open=True), "gamma": UNIT, "gae_lambda": UNIT,
    "tau": Range(0, 1, low_open=True), "grad_clip": POSITIVE, "clip": POSITIVE, "value_clip": NON_NEGATIVE,
    "huber_delta": NON_NEGATIVE, "entropy_coef": NON_NEGATIVE, "logit_reg": NON_NEGATIVE, "noise_std": NON_NEGATIVE,
    "gumbel_temperature": POSITIVE, "lambda_opt": NON_NEGATIVE, "lambda_nopt": NON_NEGATIVE,
    # exploration
    "epsilon_start": UNIT, "epsilon_finish": UNIT, "epsilon_anneal_steps": NON_NEGATIVE, "lr_anneal_steps": NON_NEGATIVE,
    # sizes and intervals
    "batch_size": AT_LEAST_1, "buffer_size": AT_LEAST_1, "target_update_interval": AT_LEAST_1,
    "update_every": AT_LEAST_1, "rollout_length": AT_LEAST_1, "epochs": AT_LEAST_1, "minibatches": AT_LEAST_1,
    "max_states": AT_LEAST_1,
    # network widths; for tuples, each entry
    "hidden": AT_LEAST_1, "hypernet_hidden": AT_LEAST_1, "mixing_embed_dim": AT_LEAST_1, "joint_hidden": AT_LEAST_1,
    "channels": AT_LEAST_1, "kernels": AT_LEAST_1, "strides": AT_LEAST_1,
}


def range_of(f: dataclasses.Field) -> Range | None:
    """The range of field ``f``: its metadata's, else the common one of its name, else none."""
    return f.metadata.get(RANGE) or COMMON.get(f.name)


def out_of_range(f: dataclasses.Field, value: Any) -> str | None:
    """Why ``value`` (already of the field's type) is not allowed for ``f``, or None if it is.
    A tuple or list is checked entry by entry; None and non-numbers pass."""
    allowed = range_of(f) or Range()
    each = "each entry " if isinstance(value, (tuple, list)) else ""
    for item in value if isinstance(value, (tuple, list)) else (value,):
        if isinstance(item, int) and not isinstance(item, bool) and not -2**63 <= item < 2**63:
            return f"{each}must fit in 64 bits (torch and numpy take no larger integer)"
        if isinstance(item, (int, float)) and not isinstance(item, bool) and not allowed.allows(item):
            return f"{each}must be {allowed.describe()}"
    return None
