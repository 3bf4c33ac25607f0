"""What every bench does: run ppo.py, read progress.txt, print its table, write its result file.

A result file (bench/results/<bench>.json) holds the command that made it, the commit, the date,
the machine, the table as printed, and the raw data behind it; `python bench/render.py` renders
the docs' tables and plots from these files, so no figure in the docs is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere: `python bench/x.py` imports the project

from utils.arguments import defaults  # noqa: E402
from utils.logx import PROGRESS_FILE  # noqa: E402
from utils.mpi import environ_without_mpi  # noqa: E402
from utils.plot import read_progress  # noqa: E402
from utils.sweep import ppo_command  # noqa: E402

RESULTS = REPO / "bench" / "results"
PPO_DEFAULTS = defaults()  # ppo()'s defaults (utils/arguments.py)
SUCCESS_GOAL = 0.95  # the success rate a first-crossing figure counts from
STEPS_PER_EPOCH = PPO_DEFAULTS["steps_per_epoch"]
# The normalizers' warm-up epoch (not learned from) counts in TotalEnvInteracts, so in a budget.
WARMUP_STEPS = STEPS_PER_EPOCH if PPO_DEFAULTS["warmup_normalizers"] else 0


def epochs_for(steps: int) -> int:
    """The epochs of a run whose env steps, its warm-up included, are `steps`."""
    if steps % STEPS_PER_EPOCH or steps <= WARMUP_STEPS:
        raise ValueError(
            f"a budget of {steps} env steps must be a multiple of steps_per_epoch "
            f"({STEPS_PER_EPOCH}) above the warm-up's {WARMUP_STEPS}"
        )
    return (steps - WARMUP_STEPS) // STEPS_PER_EPOCH


def run(cmd: Sequence[str], env: dict | None = None) -> str:
    """Run cmd from the repository root in a world of its own; its stdout, or an error that
    shows what it printed."""
    result = subprocess.run(
        list(cmd), cwd=REPO, env=env or environ_without_mpi(), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(cmd)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def run_ppo(
    env_id: str,
    seed: int,
    data_dir: str | Path,
    cpu: int,
    env_kwargs: dict | None = None,
    extra: Sequence[str] = (),
    **flags,
) -> tuple[Path, dict[str, np.ndarray]]:
    """`python ppo.py --env ENV --seed S --cpu N --quiet --flag value ... [extra]` (utils.sweep's
    command); the run directory and its progress.txt, as columns."""
    setting = dict(flags, quiet=True)
    run([*ppo_command(env_id, env_kwargs or {}, "ppo", seed, Path(data_dir), cpu, setting), *extra])
    run_dir = Path(data_dir) / "ppo" / f"ppo_s{seed}"
    return run_dir, read_progress(run_dir / PROGRESS_FILE)


def median_range(values: Sequence[float], digits: int = 2) -> str:
    """'median (min-max)' of a few seeds' values: the spread a reader needs beside the median."""
    values = [float(v) for v in values]
    if not values:
        return "-"
    med, low, high = np.median(values), min(values), max(values)
    if len(values) == 1 or low == high:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def first_crossing(points: Sequence[tuple[float, float]], goal: float = SUCCESS_GOAL):
    """The first (steps, success) evaluation at or above `goal`, or None."""
    return next(((s, rate) for s, rate in points if rate >= goal), None)


def add_out_argument(parser: argparse.ArgumentParser, bench: str) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / f"{bench}.json",
        help="where to write the result file (default: %(default)s, which the docs render)",
    )


def git_commit() -> str:
    """The commit the bench ran on, with '+changes' when the code in the work tree differs from
    it (the docs and the results do not count)."""
    try:
        commit = run(["git", "rev-parse", "--short", "HEAD"]).strip()
        code = [".", ":!docs", ":!bench/results", ":!*.md", ":!.gitignore"]
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no", "--", *code]).strip()
    except (RuntimeError, OSError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def machine() -> str:
    """What the figures were measured on, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = names[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    cores = len(os.sched_getaffinity(0))
    return f"{cores} cores ({cpu}), {platform.system()}, Python {platform.python_version()}"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(
    out: Path,
    *,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    notes: str = "",
    data: dict | None = None,
) -> dict:
    """Print the table and the command that reproduces it (the bench as it was started); write
    the result file. Returns it."""
    bench = Path(sys.argv[0]).stem
    command = shlex.join(["python", f"bench/{bench}.py", *sys.argv[1:]])
    result = dict(
        bench=bench,
        title=title,
        command=command,
        commit=git_commit(),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        columns=list(columns),
        rows=[[str(cell) for cell in row] for row in rows],
        notes=notes,
        data=data or {},
    )
    print(f"\n{title}\n{markdown_table(result['columns'], result['rows'])}")
    if notes:
        print(notes)
    print(f"command: {command}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(out)  # whole or not at all: a killed bench leaves the previous result
    print(f"result: {out}")
    return result


FINAL_SEED = 2_000_000  # the final policy's episodes: seeds neither training nor evaluation uses
FINAL_EPISODES = 100


def final_success(
    run_dir: Path, episodes: int = FINAL_EPISODES, env_kwargs: dict | None = None
) -> float | None:
    """The success rate of a run's final deterministic policy on `episodes` unseen seeds, in its
    env with `env_kwargs` changed."""
    import gymnasium as gym

    from utils.test_policy import load_actor_critic, policy_function, run_policy

    ac, env, config = load_actor_critic(run_dir)
    if env_kwargs:
        env.close()
        env = gym.make(config["env_id"], **dict(config["env_kwargs"], **env_kwargs))
    with env:
        get_action = policy_function(ac, env.action_space, deterministic=True)
        return run_policy(env, get_action, episodes, seed=FINAL_SEED)["success_rate"]
