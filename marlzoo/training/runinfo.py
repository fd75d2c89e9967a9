"""run.json: the metric contract of a run, plus where and how long it ran."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

import marlzoo


def git_commit() -> str | None:
    """The commit of the marlzoo source tree, with ``-dirty`` if it has uncommitted changes."""
    root = Path(marlzoo.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "") if commit else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware() -> dict[str, Any]:
    """Where the run happened."""
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        mem_gb = None
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": mem_gb,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    On Linux this reads VmHWM, which starts afresh when a process execs. ``ru_maxrss`` does not: a
    run started as a subprocess would report its parent's peak if that was larger.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or {} if it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def process_identity() -> dict[str, Any]:
    """What tells this process from a later one that reuses its pid: the host, the pid and, on
    Linux, the process's start time (in clock ticks since boot)."""
    return {"host": platform.node(), "pid": os.getpid(), "pid_started": _start_time(os.getpid())}


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return None if fields[0] in ("Z", "X") else int(fields[19])  # a zombie has exited


def _gone(info: dict[str, Any]) -> bool:
    """Whether the process that wrote ``info`` (on this host) has ended."""
    pid = info.get("pid")
    if not isinstance(pid, int) or info.get("host") != platform.node():
        return False  # another machine's run: its pid means nothing here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    started = _start_time(pid)
    if Path("/proc").is_dir() and started is None:
        return True  # a zombie, or gone between the two looks
    return info.get("pid_started") is not None and started is not None and started != info["pid_started"]


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """``run_dir``'s run.json ({} if it has none or cannot be read). A run it says is ``running``
    whose process has ended was killed without a word (SIGKILL, a lost machine): it is reported,
    and marked in run.json, as ``killed``."""
    info = read_json(run_dir / "run.json")
    if info.get("status") == "running" and _gone(info):
        info["status"] = "killed"
        try:
            write_json_atomic(run_dir / "run.json", info)
        except OSError:
            pass  # a read-only copy of a run: report it killed all the same
    return info
