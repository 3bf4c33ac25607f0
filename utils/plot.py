"""Learning curves from the progress.txt files of runs, as in Spinning Up's plot.py, without pandas.

    python -m utils.plot data/ppo-ArmReach-v0 data/big --value AverageEpRet SuccessRate --out c.png

Every argument is a run directory or a folder holding run directories (found recursively by their
progress.txt). Runs are grouped into experiments by the `exp_name` in their config.json (or their
directory name without the `_s<seed>` suffix) AND by their environment (env_id and env_kwargs):
runs of different environments are never averaged. The seeds of one experiment are drawn as their
mean, with a band of one standard deviation across seeds around it. A rerun of a seed that the
experiment has already (`ppo_s0_1` beside `ppo_s0`) is not a new seed: the reruns form their own
curve ("rerun 1"), and a note says so. One subplot per value.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utils.cli import DefaultsHelpFormatter, one_line, one_line_errors
from utils.logx import CONFIG_FILE, PROGRESS_FILE, warnings_as_notes

# A run, as load_runs() returns it: (run directory, config.json as a dict, progress.txt as columns).
Run = tuple[Path, dict, dict[str, np.ndarray]]

# data/<exp_name>/<exp_name>_s<seed>[_N]: logx adds _N instead of overwriting an existing run.
_SEED_SUFFIX = re.compile(r"_s(?P<number>\d+)(_\d+)?$")


def find_run_dirs(path: str | Path) -> list[Path]:
    """`path` itself if it holds a progress.txt, else every directory below it that does."""
    path = Path(path)
    if (path / PROGRESS_FILE).is_file():
        return [path]
    return sorted(p.parent for p in path.rglob(PROGRESS_FILE) if p.is_file())


def read_progress(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a tab-separated progress.txt, as float arrays keyed by the header names.

    A row cut short (the file of a run still being written) is left out.
    """
    lines = Path(path).read_text().splitlines()
    if not lines:
        return {}
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    rows = [row for row in rows if len(row) == len(header)]
    try:
        table = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    except ValueError as e:
        raise ValueError(f"{path} has a value that is not a number ({e}).") from None
    return {name: table[:, i] for i, name in enumerate(header)}


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Every run found under `paths`: (run_dir, config dict, progress columns), in path order.

    Args:
        paths: Run directories, or folders searched recursively for run directories.

    Raises:
        ValueError: when a path does not exist or no progress.txt with a row is found under
            any of them. Runs without a row yet (just started) are left out.
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise ValueError(f"{path} does not exist; give run directories or folders of runs.")
    run_dirs = list(dict.fromkeys(d for path in paths for d in find_run_dirs(path)))
    where = ", ".join(str(p) for p in paths) or "(no path given)"
    if not run_dirs:
        raise ValueError(f"no {PROGRESS_FILE} found under {where}; is it a run directory?")
    runs = []
    for run_dir in run_dirs:
        try:
            table = read_progress(run_dir / PROGRESS_FILE)
            config_file = run_dir / CONFIG_FILE
            config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        except json.JSONDecodeError as e:
            warnings.warn(
                f"{run_dir} skipped: its {CONFIG_FILE} is not valid JSON ({e})", stacklevel=2
            )
            continue
        except (OSError, ValueError) as e:  # unreadable, or not a table of numbers
            warnings.warn(f"{run_dir} skipped: {e}", stacklevel=2)
            continue
        if not table or len(next(iter(table.values()))) == 0:
            continue  # a run that has not finished its first epoch yet has nothing to draw
        runs.append((run_dir, config, table))
    if not runs:
        raise ValueError(f"no {PROGRESS_FILE} under {where} has a row yet; wait for an epoch.")
    return runs


def experiment_name(run: Run) -> str:
    """The experiment of a run: its config's exp_name, else its directory name minus _s<seed>."""
    run_dir, config, _ = run
    return config.get("exp_name") or _SEED_SUFFIX.sub("", run_dir.name)


def environment_name(run: Run) -> str:
    """The environment a run trained on, with its gym.make kwargs: "ArmReach-v1 robot=xarm6"."""
    _, config, _ = run
    kwargs = " ".join(f"{k}={v}" for k, v in sorted(config.get("env_kwargs", {}).items()))
    return " ".join(filter(None, [config.get("env_id") or "env?", kwargs]))


def run_seed(run: Run) -> int | str:
    run_dir, config, _ = run
    match = _SEED_SUFFIX.search(run_dir.name)
    return config.get("seed", int(match["number"]) if match else str(run_dir))


def group_runs(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs grouped into curves, in order of first appearance: {label: [run, ...]}.

    One curve per experiment and environment; within it, one run per seed. The n-th rerun of a
    seed goes to the curve "rerun n" of that experiment (warned about, never averaged in).
    """
    groups: dict[str, list[Run]] = {}
    seen: dict[tuple, int] = {}
    for run in runs:
        experiment = (experiment_name(run), environment_name(run))
        rerun = seen.get((*experiment, run_seed(run)), 0)
        seen[(*experiment, run_seed(run))] = rerun + 1
        label = f"{experiment[0]} on {experiment[1]}" + (f", rerun {rerun}" if rerun else "")
        if rerun:
            warnings.warn(
                f"{run[0]} is a rerun of seed {run_seed(run)} of {experiment[0]} on "
                f"{experiment[1]}: drawn as its own curve ({label!r}), not as another seed",
                stacklevel=2,
            )
        groups.setdefault(label, []).append(run)
    return groups


def smooth_curve(y: np.ndarray, window: int) -> np.ndarray:
    """Moving average over `window` points, averaging fewer points at the ends (Spinning Up's)."""
    window = min(window, len(y))  # a longer kernel would make np.convolve's output longer
    if window <= 1:
        return y
    kernel = np.ones(window)
    return np.convolve(y, kernel, "same") / np.convolve(np.ones_like(y), kernel, "same")


def check_columns(runs: Sequence[Run], columns: Iterable[str]) -> None:
    """Raise ValueError naming the run and the available columns if one lacks a column."""
    for run_dir, _, table in runs:
        for column in columns:
            if column not in table:
                raise ValueError(
                    f"column {column!r} is not in {run_dir / PROGRESS_FILE}; "
                    f"available: {', '.join(table) or '(empty file)'}"
                )


def mean_and_std(runs: Sequence[Run], value: str, xaxis: str, smooth: int = 1):
    """(x, mean, std) of `value` over the seeds in `runs`, on the rows all of them have.

    Seeds are aligned by row (epoch) and cut to the shortest run; x is the mean of the seeds' x
    at each row, which for TotalEnvInteracts or Epoch is the same value in every seed.
    """
    lengths = [len(table[xaxis]) for _, _, table in runs]
    n = min(lengths)
    if max(lengths) > n:
        warnings.warn(
            f"the seeds of one curve have {n} to {max(lengths)} rows; it is drawn over the first "
            f"{n} ({', '.join(str(run_dir) for run_dir, _, _ in runs)})",
            stacklevel=2,
        )
    xs = np.stack([table[xaxis][:n] for _, _, table in runs])
    ys = np.stack([smooth_curve(table[value][:n], smooth) for _, _, table in runs])
    # Rows where a column has no value (EvalSuccessRate between evaluations, AverageEpRet of an
    # epoch in which no episode ended) are left out, so the line joins the rows that have one.
    rows = ~np.isnan(ys).any(axis=0)
    return xs.mean(axis=0)[rows], ys.mean(axis=0)[rows], ys.std(axis=0)[rows]


def plot_runs(
    paths: Iterable[str | Path],
    values: Sequence[str] = ("AverageEpRet",),
    xaxis: str = "TotalEnvInteracts",
    out: str | Path | None = "curves.png",
    smooth: int = 1,
) -> Figure:
    """Plot learning curves, one subplot per value and one line per experiment.

    Args:
        paths: Run directories, or folders searched recursively for run directories.

        values: Columns of progress.txt to plot, e.g. ("AverageEpRet", "SuccessRate").

        xaxis: The column on the x axis: TotalEnvInteracts, Epoch or Time.

        out: Where to write the figure (PNG, or any format matplotlib infers from the suffix);
            None to only return it.

        smooth: Moving-average window in epochs, applied to each seed before averaging; 1 draws
            the raw data.

    Returns:
        The matplotlib Figure: per experiment and environment, the mean over its seeds, with a
        band of one standard deviation across seeds (no band for a single seed). Reruns of a
        seed and seeds of unequal length are drawn as the module docstring says, with a
        UserWarning.

    Raises:
        ValueError: when no run is found or a column is missing from a run.
    """
    values = list(values)
    if not values:
        raise ValueError("no value to plot; name at least one column, e.g. AverageEpRet.")
    if smooth < 1:
        raise ValueError(f"smooth={smooth} must be at least 1 (1 means no smoothing).")
    runs = load_runs(paths)
    check_columns(runs, [xaxis, *values])
    groups = group_runs(runs)

    # Not pyplot: a bare Figure renders with Agg, needs no display and leaks no global state.
    fig = Figure(figsize=(6.4 * len(values), 4.8), layout="constrained")
    axes = fig.subplots(1, len(values), squeeze=False)[0]
    for ax, value in zip(axes, values, strict=True):
        for name, group in groups.items():
            x, mean, std = mean_and_std(group, value, xaxis, smooth)
            label = f"{name} ({len(group)} seed{'s' if len(group) > 1 else ''})"
            (line,) = ax.plot(x, mean, label=label)
            if len(group) > 1:
                ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_xlabel(xaxis)
        ax.set_ylabel(value)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    counts = sorted({len(group) for group in groups.values()})
    seeds = " or ".join(f"{n} seed{'s' if n > 1 else ''}" for n in counts)
    band = ", band: one std across seeds" if counts[-1] > 1 else ""
    fig.suptitle(f"each curve: the mean over its {seeds}{band}")
    if out is not None:
        fig.savefig(out, dpi=100)
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m utils.plot",
        description="Plot learning curves (mean over seeds +- one std) from progress.txt files.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("logdir", nargs="+", help="Run directories or folders of runs.")
    parser.add_argument("--value", nargs="+", default=["AverageEpRet"], help="Columns to plot.")
    parser.add_argument("--xaxis", default="TotalEnvInteracts", help="Column on the x axis.")
    parser.add_argument("--out", default="curves.png", help="Image file to write.")
    parser.add_argument("--smooth", type=int, default=1, help="Moving-average window (epochs).")
    one_line_errors(parser)
    args = parser.parse_args(argv)
    warnings_as_notes(parser.prog)
    try:
        plot_runs(args.logdir, args.value, args.xaxis, args.out, args.smooth)
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {one_line(e)}\n")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
