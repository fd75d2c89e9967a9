"""Guards against non-finite numbers in what an update reports (the env's values are checked by
:class:`~marlzoo.envs.vector.VectorEnv` as it steps)."""

from __future__ import annotations

import math

from marlzoo.errors import NonFiniteError


def check_finite(metrics: list[dict[str, float]], algo_name: str, t_env: int) -> list[dict[str, float]]:
    """``metrics``, unless an update produced a NaN or an infinity (a loss, a gradient norm): then a
    :class:`NonFiniteError`, before anything is logged or checkpointed."""
    for row in metrics:
        for key, value in row.items():
            if not math.isfinite(value):
                raise NonFiniteError(
                    f"{algo_name} produced a non-finite {key} ({value}) in an update at env step {t_env}; the run stopped "
                    "and its last checkpoint is kept: lower the learning rate, or clip gradients (algo.grad_clip)"
                )
    return metrics
