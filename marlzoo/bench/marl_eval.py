"""A table's runs in the raw-data format of marl-eval (Gorsane et al., 2022), for its statistical tools.

marl-eval (``pip install id-marl-eval``, in an environment of its own: it pins old pandas) reads one
JSON object nested as environment -> task -> algorithm -> run -> step, where each step holds
``step_count`` and a list per metric, and each run ends with ``absolute_metrics``. Here:

- the environment is the env's package as ``run.json`` records it (``mpe2``), the task the table's
  env label, the algorithm its algorithm label, and the run ``seed_<k>``, as marl-eval's own
  ``JsonLogger`` names runs;
- ``step_<i>`` is the i-th greedy evaluation, with ``step_count`` its env steps and one metric,
  ``return``, a one-element list: the mean greedy return over that evaluation's test episodes
  (``metrics.jsonl`` keeps the mean, not each episode);
- ``absolute_metrics`` holds the final evaluation's ``return``. Gorsane et al.'s absolute metric
  re-evaluates the best checkpoint on 10 times the episodes; marlzoo does not run that evaluation,
  and reports the final return instead, the quantity its tables compare.

Pass ``metrics_to_normalize=["return"]`` to marl-eval's ``data_process_pipeline``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marlzoo.bench.results import Row

METRIC = "return"
ABSOLUTE = "absolute_metrics"


def marl_eval_data(rows: list["Row"]) -> dict[str, Any]:
    """``{environment: {task: {algorithm: {seed_<k>: {step_<i>: {...}, ..., absolute_metrics: {...}}}}}}``."""
    data: dict[str, Any] = {}
    for row in rows:
        if not row.runs:
            continue
        environment = str(row.runs[0].info.get("env_package") or row.env)
        algorithm = data.setdefault(environment, {}).setdefault(row.env, {}).setdefault(row.algo, {})
        for run in row.runs:
            steps: dict[str, Any] = {
                f"step_{i}": {"step_count": int(step), METRIC: [float(ret)]} for i, (step, ret) in enumerate(run.curve)
            }
            steps[ABSOLUTE] = {METRIC: [run.final]}
            algorithm[f"seed_{run.seed}"] = steps
    return data
