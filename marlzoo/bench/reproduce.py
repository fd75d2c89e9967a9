"""``marlzoo reproduce``: run a table's missing cells, keep their per-seed artifacts, write the table,
its figures and its marl-eval export.

Each cell (an algorithm, an env, a seed) is cached under a key: a hash of its fully resolved config
(without the ``wandb`` section, which says where metrics go, not what is computed) and the marlzoo
version. A cell is done when ``<out>/runs/<table>/<algo>/<env>/seed<k>/cell.json`` holds the current
key. Workers train in a scratch directory and send back the small artifacts (``metrics.jsonl``,
``run.json``, ``config.yaml``, and ``checkpoint.pt`` if the spec's ``keep_checkpoints`` or
``--keep-checkpoints`` asks for it); the driver writes them into a fresh directory and renames it into
place, so a killed call leaves either a whole cell or none, and the next call resumes.

Backends: ``local`` is a pool of worker processes on this machine; ``ray`` makes each cell a Ray
task, on a local Ray instance or, with ``address``, on a cluster.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import tempfile
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import marlzoo
from marlzoo.config import build_run_config, merge
from marlzoo.errors import TRACEBACK_VARIABLE, UserError
from marlzoo.training.runinfo import read_json
from marlzoo.bench.fingerprint import code_changes, code_fingerprint
from marlzoo.bench.runs import first_difference, metric_rows
from marlzoo.bench.store import ARTIFACTS, CHECKPOINT, CellState, TableStore, cache_key, cells_of
from marlzoo.bench.tables import Cell, TableSpec, check_support, load_table

# ------------------------------------------------------------------------------ the worker side
@dataclass
class CellTask:
    """Everything a worker needs to run one cell, as plain data (it crosses process and host borders)."""

    table: str
    cell: str  # algo/env/seedN
    key: str
    config: dict[str, Any]  # the resolved config, exactly as hashed (plus the wandb section)
    run_id: str
    scratch: str | None  # parent of the run directory; None: a temp dir on the worker's host
    keep_checkpoint: bool = False
    code: dict[str, Any] = field(default_factory=dict)  # the driver's code fingerprint of the cell


def worker_init() -> None:
    """Set up a worker process: one torch thread, and die with the driver (Linux) rather than linger."""
    import torch

    torch.set_num_threads(1)
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_cell(task: CellTask) -> dict[str, Any]:
    """Train one cell in-process and return its artifacts' bytes (the checkpoint only if ``keep_checkpoint``)."""
    import torch

    from marlzoo.training.trainer import Trainer, new_run_dir

    torch.set_num_threads(1)
    merged, sources = merge([(task.config, f"table {task.table}, cell {task.cell}")])
    config = build_run_config(merged, sources)
    key = cache_key(config)
    if key != task.key:
        raise UserError(
            f"cell {task.cell}: this worker resolves the config to key {key}, the driver to {task.key}; "
            f"install the same marlzoo ({marlzoo.__version__} here) and algorithm plugins on every worker"
        )
    code = code_fingerprint(config.algo_name)
    changes = code_changes(task.code, code)
    if changes:
        raise UserError(f"cell {task.cell}: this worker runs other code than the driver ({', '.join(changes)}); "
                        "install the same marlzoo and algorithm plugins on every worker, and do not edit them mid-table")
    scratch = Path(task.scratch) if task.scratch else Path(tempfile.mkdtemp(prefix="marlzoo-cell-"))
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(scratch / task.run_id, ignore_errors=True)  # an earlier attempt's, on a worker that died
    run_dir = new_run_dir(scratch, config, task.run_id)
    info = Trainer(config, run_dir, show_progress=False).train()
    checkpoint = run_dir / CHECKPOINT
    result = {
        "files": {name: (run_dir / name).read_bytes() for name in ARTIFACTS},
        "host": socket.gethostname(),
        "run_dir": str(run_dir),
        "wall_clock_s": info["wall_clock_s"],
        "final_test_return": info.get("final_metrics", {}).get("test/return_mean"),
        "code": code,
    }
    if task.keep_checkpoint:
        result["files"][CHECKPOINT] = checkpoint.read_bytes()
    checkpoint.unlink(missing_ok=True)
    if task.scratch is None:  # a temp dir on a cluster worker: keep it only for offline W&B files (`wandb sync`)
        if (run_dir / "wandb").is_dir():
            result["kept_dir"] = f"{result['host']}:{run_dir}"
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return result


# ------------------------------------------------------------------------------ backends
OnResult = Callable[[CellTask, "dict[str, Any] | BaseException"], None]
WORKER_RETRIES = 2  # a cell whose worker dies (a kill, out of memory, a lost node) runs again this many times


class CellFailed(Exception):
    """A cell that did not finish, in one line; ``detail`` holds the traceback, if any, for MARLZOO_TRACEBACK."""

    def __init__(self, line: str, detail: str = "") -> None:
        super().__init__(line)
        self.detail = detail


def failure(error: BaseException, detail: str | None = None) -> CellFailed | UserError:
    """A backend's error as one line: a :class:`UserError` as it is, anything else by its type and
    first line, keeping ``detail`` (by default its traceback)."""
    if isinstance(error, (CellFailed, UserError)):
        return error
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if detail is None:
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__)).strip()
    return CellFailed(f"{type(error).__name__}{f': {first}' if first else ''}", detail)


class LocalBackend:
    """A pool of ``workers`` processes on this machine (spawned, one torch thread each)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def __enter__(self) -> "LocalBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    max_pool_deaths = 3  # a worker killed from outside breaks the whole pool; a task rides out this many

    def run(self, tasks: list[CellTask], on_result: OnResult) -> None:
        from concurrent.futures.process import BrokenProcessPool

        deaths = {task.cell: 0 for task in tasks}
        todo = list(tasks)
        while todo:
            broken = self._run_pool(todo, on_result)
            todo = []
            for task, error in broken:  # every unfinished task of a broken pool: retry, up to a limit
                deaths[task.cell] += 1
                if deaths[task.cell] < self.max_pool_deaths:
                    todo.append(task)
                else:
                    on_result(task, CellFailed(f"a worker died {deaths[task.cell]} times while this cell was queued or "
                                               f"running (killed from outside, or out of memory?): {error}"))

    def _run_pool(self, tasks: list[CellTask], on_result: OnResult) -> list[tuple[CellTask, BaseException]]:
        """Run ``tasks`` in a fresh pool; returns the tasks a broken pool left unfinished."""
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx, initializer=worker_init)
        broken: list[tuple[CellTask, BaseException]] = []
        try:
            pending = {pool.submit(run_cell, task): task for task in tasks}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, BrokenProcessPool):
                        broken.append((task, error))
                    else:
                        on_result(task, error if error is not None else future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return broken


class RayBackend:
    """Each cell a Ray task with one CPU: a local Ray instance of ``workers`` CPUs, or the cluster at ``address``."""

    name = "ray"

    def __init__(self, workers: int, address: str | None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UserError('the ray backend needs Ray: pip install "marlzoo[ray]"') from None
        self.workers = workers
        self.address = address

    def __enter__(self) -> "RayBackend":
        import ray

        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            else:
                # "local": always a fresh instance here, whatever RAY_ADDRESS or a running cluster says
                ray.init(address="local", num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
        except Exception as exc:  # a bad address, a cluster that is down, a missing auth token
            raise UserError(f"could not start or reach Ray{f' at {self.address}' if self.address else ''}: {exc}") from None
        self._quiet_raylet()
        return self

    @staticmethod
    def _quiet_raylet() -> None:
        """Keep the raylet's messages (a worker died, a task will be retried: paragraphs each) off the
        console, which gets one line per failed cell instead; MARLZOO_TRACEBACK=1 lets them through.
        Ray prints them from a driver thread through ``ray._private.worker.print_to_stdstream``."""
        if os.environ.get(TRACEBACK_VARIABLE):
            return
        try:
            import ray._private.worker as ray_worker
        except ImportError:
            return
        if hasattr(ray_worker, "print_to_stdstream"):
            ray_worker.print_to_stdstream = lambda data, ignore_prefix=False: None

    def __exit__(self, *exc: Any) -> None:
        import ray

        ray.shutdown()

    def run(self, tasks: list[CellTask], on_result: OnResult) -> None:
        import ray

        # Ray reruns a task whose worker process died, up to max_retries times; an exception raised by
        # the cell's own code is not retried (it would only raise again).
        remote = ray.remote(num_cpus=1, max_retries=WORKER_RETRIES, retry_exceptions=False)(_ray_cell)
        pending = {remote.remote(task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    result: dict[str, Any] | BaseException = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the cell's code raised: its traceback is in str(exc)
                    result = failure(exc.cause, str(exc))
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError,
                        ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError) as exc:
                    result = CellFailed(f"its Ray worker died {WORKER_RETRIES + 1} times (killed from outside, out of "
                                        f"memory, or a lost node): {type(exc).__name__}", str(exc))
                except Exception as exc:  # the cluster went away, and the like
                    result = failure(exc)
                on_result(task, result)


def _ray_cell(task: CellTask) -> dict[str, Any]:
    worker_init()
    return run_cell(task)


def make_backend(name: str, workers: int, address: str | None) -> LocalBackend | RayBackend:
    if workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}")
    if name == "local":
        if address:
            raise UserError("--address is for the ray backend; add --backend ray")
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(workers, address)
    raise UserError(f"unknown backend '{name}'; use local or ray")


# ------------------------------------------------------------------------------ the command
@dataclass
class Report:
    """What a reproduce call did."""

    spec: TableSpec
    total: int
    cached: int
    unfingerprinted: int = 0  # cached cells made before code fingerprints
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # cells the written table lacks
    accepted: list[str] = field(default_factory=list)  # cells --verify-code accepted for the current code


@dataclass
class Planned:
    """A cell of the table, its cache key and code fingerprint, and whether and why it is cached."""

    cell: Cell
    key: str
    code: dict[str, Any]
    state: CellState


def plan(spec: TableSpec, store: TableStore, rerun: bool = False, rerun_unfingerprinted: bool = False
         ) -> tuple[list[Planned], list[Planned]]:
    """The cells to run and the cells already cached (``rerun``: none is cached; ``rerun_unfingerprinted``:
    none made before code fingerprints is)."""
    todo, cached = [], []
    for cell in spec.cells:
        key, code = cache_key(cell.config), code_fingerprint(cell.config.algo_name)
        state = store.state(cell, key, code, spec.keep_checkpoints, rerun_unfingerprinted)
        if rerun and state.cached:
            state = CellState(False, "--rerun")
        (cached if state.cached else todo).append(Planned(cell, key, code, state))
    return todo, cached


def regenerate_command(spec_path: Path, out: Path) -> str:
    """The shortest command that regenerates the table (the backend and workers do not change numbers)."""
    try:
        shown = spec_path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = spec_path
    cmd = f"marlzoo reproduce {shown.as_posix()}"
    if out.resolve() != Path("results").resolve():
        cmd += f" --out {out.as_posix()}"
    return cmd


def reproduce(
    spec_path: str | Path,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    out: str | Path = "results",
    wandb_mode: str | None = None,
    dry_run: bool = False,
    rerun: bool = False,
    console: Any = None,
    fmt: str = "png",
    dpi: int = 100,
    keep_checkpoints: bool = False,
    rerun_unfingerprinted: bool = False,
    verify_code: bool = False,
) -> Report:
    """Run the table's missing cells, then write ``<out>/<table>.md``, ``.csv``, ``.marl_eval.json`` and
    the learning curves (``fmt``: png, svg or pdf, at ``dpi``).

    ``keep_checkpoints`` keeps each cell's final ``checkpoint.pt``, as the spec's ``keep_checkpoints``
    does; a cached cell without one runs again to write it. ``rerun`` runs every cell again;
    ``rerun_unfingerprinted`` those cached before ``cell.json`` recorded the code that made them.
    ``verify_code``: cells cached for other code are checked by a sample instead of all rerun
    (:func:`verify_code_change`).
    """
    from rich.console import Console

    from marlzoo.bench.plots import FORMATS, check_dpi
    from marlzoo.bench.results import write_outputs

    console = console or Console(stderr=True)
    if fmt not in FORMATS:
        raise UserError(f"unknown figure format '{fmt}'; use {', '.join(FORMATS)}")
    check_dpi(dpi)
    spec_path, out = Path(spec_path), Path(out)
    spec = load_table(spec_path)
    if keep_checkpoints:
        spec = dataclasses.replace(spec, keep_checkpoints=True)
    workers = workers if workers is not None else os.cpu_count() or 1
    runner = make_backend(backend, workers, address)
    check_support(spec)
    store = TableStore(out, spec.name)
    if dry_run:
        todo, cached = plan(spec, store, rerun, rerun_unfingerprinted)
        samples = {p.cell.name: group for p, group in code_samples(todo)} if verify_code else {}
        for p in sorted(todo + cached, key=lambda p: spec.cells.index(p.cell)):
            line = (f"cached {p.cell.name}{'' if p.state.fingerprinted else ' (made before code fingerprints)'}"
                    if p.state.cached else f"would run {p.cell.name}: {p.state.reason}")
            if p.cell.name in samples:
                line += f" (--verify-code: the sample for {len(samples[p.cell.name])} cells)"
            elif verify_code and p.state.code_changed:
                line = f"would check {p.cell.name} by its sample: {p.state.reason}"
            console.print(f"{line} (key {p.key})", markup=False, highlight=False, soft_wrap=True)
        would_run = [p.cell.name for p in todo if not (verify_code and p.state.code_changed) or p.cell.name in samples]
        return Report(spec, len(spec.cells), len(cached), _unfingerprinted(cached), ran=would_run)

    with _writes_to(out):
        store.open()
        try:
            todo, cached = plan(spec, store, rerun, rerun_unfingerprinted)
            report = Report(spec, len(spec.cells), len(cached), _unfingerprinted(cached))
            if verify_code and any(p.state.code_changed for p in todo):
                report.accepted = verify_code_change(spec, store, runner, todo, wandb_mode, report, console, workers)
                todo, cached = plan(spec, store, rerun, rerun_unfingerprinted)
                cached = [p for p in cached if p.cell.name not in report.ran]
                report.cached, report.unfingerprinted = len(cached), _unfingerprinted(cached)
            console.print(f"table {spec.name}: {len(spec.cells)} cells, {cached_words(report)}, {len(todo)} to run "
                          f"({runner.name} backend, {workers} workers{f', cluster {address}' if address else ''})")
            if todo:
                note = _wandb_offline_note(spec, store, todo, wandb_mode)
                if note:
                    console.print(note, markup=False, highlight=False, soft_wrap=True)
                _run_cells(spec, store, runner, todo, wandb_mode, report, console, workers)
            report.outputs = write_outputs(spec, store, out, regenerate_command(spec_path, out), console, fmt, dpi)
            done = {cell.name for cell, _ in cells_of(spec, store)}
            report.missing = [cell.name for cell in spec.cells if cell.name not in done]
        finally:
            store.close()
    return report


@contextmanager
def _writes_to(out: Path) -> Iterator[None]:
    """A read-only or full ``--out`` as one line. Each cell and each table file is written whole or not
    at all, so what was written before stays valid."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write {exc.filename or out}: {exc.strerror or exc}; pass a writable --out (cells "
                        "finished before this are kept, and the same command carries on from them)") from None


def code_samples(todo: list[Planned]) -> list[tuple[Planned, list[Planned]]]:
    """The cells cached for other code, grouped by algorithm, env and the code that made them, each
    group with its sample: the cell of its lowest seed."""
    groups: dict[tuple[str, str, str], list[Planned]] = {}
    for p in todo:
        if p.state.code_changed:
            made_by = json.dumps(p.state.recorded_code, sort_keys=True)
            groups.setdefault((p.cell.algo, p.cell.env, made_by), []).append(p)
    return [(min(group, key=lambda p: p.cell.seed), group) for group in groups.values()]


def verify_code_change(spec: TableSpec, store: TableStore, runner: Any, todo: list[Planned],
                       wandb_mode: str | None, report: Report, console: Any, workers: int) -> list[str]:
    """Check a code change by a sample instead of rerunning every cell it made stale: per algorithm
    and env, rerun the lowest seed's cell on the current code. Where its ``metrics.jsonl`` (every key
    but ``time/*``) is identical to the one the old code wrote, the group's other cells are accepted
    for the current code (:meth:`TableStore.accept_code`); where it differs, they stay stale and run
    again. Float results repeat bit for bit on the same kind of CPU only, so a cell that ran on
    another CPU differs, and the line says so. The samples' new results replace the old either way.
    Returns the cells accepted."""
    pairs = code_samples(todo)
    before = {p.cell.name: (metric_rows(store.cell_dir(p.cell) / "metrics.jsonl"), _cpu_of(store.cell_dir(p.cell)))
              for p, _ in pairs}
    stale = sum(len(group) for _, group in pairs)
    console.print(f"--verify-code: {stale} cells were made by other code; rerunning {len(pairs)} of them (the lowest "
                  "seed of each algorithm and env) to check that the change leaves their results as they were",
                  markup=False, highlight=False, soft_wrap=True)
    _run_cells(spec, store, runner, [p for p, _ in pairs], wandb_mode, report, console, workers)
    accepted: list[str] = []
    for sample, group in pairs:
        name, rest = sample.cell.name, [p for p in group if p is not sample]
        if name not in report.ran:
            line = f"not checked {name} (it failed): its {len(rest)} other cells run again"
        else:
            old_rows, old_cpu = before[name]
            where = first_difference(old_rows, metric_rows(store.cell_dir(sample.cell) / "metrics.jsonl"))
            if where is None:
                because = f"{name} reran on this code with an identical metrics.jsonl (all but time/*)"
                for p in rest:
                    store.accept_code(p.cell, p.code, because)
                accepted += [p.cell.name for p in rest]
                line = f"identical {name}: its {len(rest)} other cells are accepted for the current code"
            else:
                cpu = _cpu_of(store.cell_dir(sample.cell))
                other_cpu = f" (it ran on {old_cpu}, the rerun on {cpu}: floats repeat only on the same CPU kind)" \
                    if old_cpu != cpu else ""
                line = f"differs {name} at {where}{other_cpu}: its {len(rest)} other cells run again"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return accepted


def _cpu_of(cell_dir: Path) -> str | None:
    return read_json(cell_dir / "run.json").get("hardware", {}).get("cpu")


def _unfingerprinted(cached: list[Planned]) -> int:
    return sum(not p.state.fingerprinted for p in cached)


def cached_words(report: Report) -> str:
    """``N cached``, and how many of them were made before code fingerprints."""
    if not report.unfingerprinted:
        return f"{report.cached} cached"
    return (f"{report.cached} cached ({report.unfingerprinted} made before code fingerprints; "
            "--rerun-unfingerprinted runs them again)")


def _wandb_offline_note(spec: TableSpec, store: TableStore, todo: list[Planned], wandb_mode: str | None) -> str | None:
    """The line that says, once for the table, that its cells log to W&B offline, where, and how to upload."""
    from marlzoo.training.metrics import display_path, resolve_wandb_mode

    if not any(resolve_wandb_mode(wandb_mode or p.cell.config.wandb.mode) == "offline" for p in todo):
        return None
    cells = display_path(store.root)
    return (f"W&B logs offline: each cell's run goes to {cells}/<algo>/<env>/seed<k>/wandb/ (a cluster worker's "
            f"stays on the worker, at the worker_run_dir its cell.json names); upload them later with: "
            f"wandb sync {cells}/*/*/seed*/wandb/offline-run-*")


def _run_cells(spec: TableSpec, store: TableStore, runner: Any, todo: list[Planned],
               wandb_mode: str | None, report: Report, console: Any, workers: int) -> None:
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    local = not getattr(runner, "address", None)
    cells = {}
    tasks = []
    for p in todo:
        cell = p.cell
        config = cell.config.to_dict()
        if wandb_mode:
            config["wandb"]["mode"] = wandb_mode
        task = CellTask(spec.name, cell.name, p.key, config, run_id=f"{spec.name}-{cell.algo}-{cell.env}-s{cell.seed}",
                        scratch=str(store.scratch.resolve()) if local else None, keep_checkpoint=spec.keep_checkpoints,
                        code=p.code)
        cells[task.cell] = cell
        tasks.append(task)
    meta = {"marlzoo_version": marlzoo.__version__, "backend": runner.name, "workers": workers}

    progress = Progress(TextColumn(f"[bold]{spec.name}"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                        disable=not (console.is_interactive or console.is_jupyter))  # a log gets the "done" lines only
    with runner, progress:
        bar = progress.add_task("cells", total=len(tasks))

        def on_result(task: CellTask, result: dict[str, Any] | BaseException) -> None:
            cell = cells[task.cell]
            if isinstance(result, BaseException):
                error = failure(result)
                detail = getattr(error, "detail", "")
                if detail and os.environ.get(TRACEBACK_VARIABLE):
                    progress.console.print(detail, markup=False, highlight=False)
                text = str(error) + (f" ({TRACEBACK_VARIABLE}=1 shows the details)" if detail and not
                                     os.environ.get(TRACEBACK_VARIABLE) else "")
                report.failed[task.cell] = text
                progress.console.print(f"[red]failed[/red] {escape(task.cell)}: {escape(text)}", highlight=False,
                                       soft_wrap=True)
            else:
                when = datetime.now(timezone.utc).isoformat(timespec="seconds")
                store.commit(cell, task.key, task.scratch, result,
                             {**meta, "host": result["host"], "completed_at": when, "code": result["code"]})
                report.ran.append(task.cell)
                ret = result["final_test_return"]
                progress.console.print(f"done {task.cell}: final test return "
                                       f"{ret if ret is None else round(ret, 2)}, {result['wall_clock_s']:.0f} s")
            progress.advance(bar)

        runner.run(tasks, on_result)
