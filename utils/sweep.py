"""Run every combination of several settings and seeds, as Spinning Up's ExperimentGrid does.

    python -m utils.sweep --env ArmReach-v0 --name lr --seeds 0 1 2 --pi_lr 3e-4 1e-3 --epochs 20

Every flag of ppo.py takes one value or several (`--pi_lr 3e-4 1e-3`); the sweep runs each
combination of the values with each seed, one after the other, each as its own
`python ppo.py ... --cpu N` process (so each run has its own MPI world of N ranks). The runs of one
setting share the experiment name `<name>_<key><value>...` built from the values that vary, so a
sweep's folder looks like

    data/lr/lr_pi_lr3e-4/lr_pi_lr3e-4_s0/     (progress.txt, config.json, checkpoint.pt)
    data/lr/lr_pi_lr3e-4/lr_pi_lr3e-4_s0.log  (what ppo.py printed)
    data/lr/lr_pi_lr1e-3/...

and `python -m utils.plot data/lr` draws one curve per setting, seeds averaged. Running the same
sweep again skips the runs that finished, resumes those that saved a checkpoint before they were
stopped, and starts the others again. A run that fails is reported with its error and the sweep
goes on; the command exits with status 1 if any run failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from utils.arguments import ARGUMENTS, defaults, from_config, make
from utils.checkpoint import CHECKPOINT_FILE, load_checkpoint
from utils.cli import DefaultsHelpFormatter, add_env_arguments, flag_names, one_line_errors
from utils.logx import CONFIG_FILE, PROGRESS_FILE, check_run_name, load_config
from utils.mpi import environ_without_mpi
from utils.plot import read_progress

REPO = Path(__file__).resolve().parent.parent
PPO_SCRIPT = REPO / "ppo.py"

# Flags of ppo() that the sweep sets itself.
NOT_SWEPT = ("seed", "resume")
# ppo.py's own flags for the network: ac_kwargs=dict(hidden_sizes=[hid] * l).
NETWORK_FLAGS = {"hid": 64, "l": 2}


def sweepable_arguments() -> dict[str, object]:
    """{name: default} of every ppo.py flag a sweep may vary: ppo()'s simple keyword arguments
    (those ppo.py turns into flags) and the network's --hid and --l."""
    sweepable = dict(NETWORK_FLAGS)
    for name, default in defaults().items():
        if ARGUMENTS[name].metadata["flag"] and name not in NOT_SWEPT:
            sweepable[name] = default
    return sweepable


def format_value(value) -> str:
    """A value as it appears in a run name: the shorter of 0.0003 and 3e-4, ints and text as is."""
    if isinstance(value, float) and math.isfinite(value) and value != int(value):
        mantissa, exponent = f"{value:e}".split("e")
        scientific = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        return min(f"{value:g}", scientific, key=len)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setting_name(name: str, setting: dict, varying: Sequence[str]) -> str:
    """`name` followed by `_<key><value>` for each argument that takes several values."""
    return "_".join([name, *(f"{key}{format_value(setting[key])}" for key in varying)])


def ppo_command(
    env_id: str, env_kwargs: dict, exp_name: str, seed: int, data_dir: Path, cpu: int, setting: dict
):
    """The `python ppo.py ...` command of one run."""
    cmd = [sys.executable, str(PPO_SCRIPT), "--env", env_id, "--exp_name", exp_name]
    if env_kwargs:
        cmd += ["--env_kwargs", *(f"{k}={json.dumps(v)}" for k, v in env_kwargs.items())]
    cmd += ["--seed", str(seed), "--data_dir", str(data_dir), "--cpu", str(cpu)]
    for key, value in setting.items():
        if isinstance(value, bool):
            cmd.append(f"--{key}" if value else f"--no-{key}")
        else:
            cmd += [f"--{key}", str(value)]
    return cmd


def last_epoch(run_dir: Path) -> tuple[int, int]:
    """(last epoch in progress.txt, epoch of the checkpoint); -1 for what is missing."""
    progress = read_progress(run_dir / PROGRESS_FILE) if (run_dir / PROGRESS_FILE).exists() else {}
    logged = int(progress["Epoch"][-1]) if len(progress.get("Epoch", [])) else -1
    saved = -1
    if (run_dir / CHECKPOINT_FILE).exists():
        try:
            saved = int(load_checkpoint(run_dir)["epoch"])
        except ValueError:  # a torn file: treat as no checkpoint, the run starts again
            saved = -1
    return logged, saved


def config_mismatch(
    run_dir: Path, setting: dict, env_kwargs: dict, cpu: int, resume: bool
) -> str | None:
    """Why the existing run in run_dir was not made with `setting`, or None if it was.

    The directory name holds only the values that vary, so a sweep started again with another
    fixed value (say --steps 8000 instead of 4000) would otherwise count foreign runs as its own.
    """
    try:
        config = load_config(run_dir)
    except ValueError as e:
        if (run_dir / CONFIG_FILE).exists():  # damaged: neither this sweep's run nor restartable
            return f"{e} Remove {run_dir}, or give the sweep another name or data_dir."
        return None  # no config.json: nothing to compare, the run is started again
    hidden = from_config(config).ac_kwargs.get("hidden_sizes")
    for key, value in dict(setting, env_kwargs=env_kwargs).items():
        if key == "epochs":
            continue  # more epochs continue the run, fewer find it finished
        if key in NETWORK_FLAGS:
            wanted = [setting.get("hid", 64)] * setting.get("l", 2)
            saved, value = hidden, wanted
        else:
            saved = config.get(key, {} if key == "env_kwargs" else None)
        if saved != value:
            return (
                f"{run_dir} was run with {key}={saved!r}, not {value!r}; give the sweep another "
                "name or data_dir, or remove that run."
            )
    if resume and config.get("mpi_ranks", cpu) != cpu:
        # Only a resumed run must keep its rank count (its checkpoint holds each rank's RNG).
        return (
            f"{run_dir} was run with {config['mpi_ranks']} MPI ranks, not --cpu {cpu}; "
            "use the same --cpu to resume it."
        )
    return None


def final_row(run_dir: Path) -> dict:
    """The last row of a run's progress.txt: {column: value}, empty if it has no row."""
    if not (run_dir / PROGRESS_FILE).exists():
        return {}
    table = read_progress(run_dir / PROGRESS_FILE)
    return {key: float(column[-1]) for key, column in table.items() if len(column)}


def last_line(text: str) -> str:
    """The last non-empty line of a log: where ppo.py puts its one-line errors and tracebacks
    their exception."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def sweep(
    env_id: str,
    seeds: Sequence[int] = (0,),
    name: str = "sweep",
    data_dir: str | Path = "data",
    cpu: int = 1,
    verbose: bool = True,
    env_kwargs: dict | None = None,
    **grid,
) -> list[dict]:
    """Train ppo.py on every combination of the values in `grid`, for every seed.

    Args:
        env_id: A Gymnasium env id that ppo.py can make (``--env``), e.g. "ArmReach-v0".

        seeds: The seeds each setting is run with.

        name: The sweep's name: its folder is ``data_dir/name``, and each setting's experiment
            name starts with it.

        data_dir: The folder that holds the sweep's folder.

        cpu: MPI ranks of each run (``python ppo.py --cpu N``); runs go one after the other.

        verbose: Print a line as each run starts and ends, and the summary table at the end.

        env_kwargs: Keyword arguments of gym.make for every run (``--env_kwargs``), e.g.
            ``dict(robot="franka_panda")``.

        **grid: ppo.py flags by name (``pi_lr``, ``epochs``, ``steps_per_epoch``, ``hid``,
            ``l``, ...), each a single value or a list of values. Every combination of the
            lists is a setting; the keys with several values name it:
            ``sweep("ArmReach-v0", [0, 1], name="lr", pi_lr=[3e-4, 1e-3], epochs=20)`` writes
            ``data/lr/lr_pi_lr3e-4/lr_pi_lr3e-4_s0``, ``..._s1`` and the same for 1e-3.

    Returns:
        One dict per run, in the order they ran: name (the setting's experiment name), seed,
        setting (the values given), run_dir, status ("trained", "resumed", "skipped" when it had
        finished already, or "failed"), error (the last line of its output when it failed, else
        None), wall (seconds this sweep spent on it), log (the file with its output), and the
        last row of its progress.txt, e.g. ``AverageEpRet``, ``SuccessRate``, ``Time``.

    Raises:
        ValueError: when a grid key is not a ppo.py flag, or a list of values or seeds is empty;
            nothing runs then. A run that fails does not raise: it is reported and skipped.
    """
    allowed = sweepable_arguments()
    env_kwargs = env_kwargs or {}
    unknown = [key for key in grid if key not in allowed]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not a flag a sweep can vary; choose from "
            f"{', '.join(sorted(allowed))} (seeds go in `seeds`)."
        )
    values = {
        key: list(value) if isinstance(value, list | tuple) else [value]
        for key, value in grid.items()
    }
    empty = [key for key, v in values.items() if not v] + ([] if len(seeds) else ["seeds"])
    if empty:
        raise ValueError(f"{', '.join(empty)}: give at least one value.")
    if cpu < 1:
        raise ValueError(f"cpu={cpu} must be at least 1.")
    check_run_name(name, "name")
    varying = [key for key, v in values.items() if len(v) > 1]
    settings = [
        dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())
    ]
    sweep_dir = Path(data_dir) / name
    total = len(settings) * len(seeds)
    # A sweep started under mpirun must not hand its MPI world to the runs: each run starts
    # its own (ppo.py --cpu N).
    child_env = environ_without_mpi()

    results = []
    for setting, seed in itertools.product(settings, seeds):
        exp_name = setting_name(name, setting, varying)
        run_dir = sweep_dir / exp_name / f"{exp_name}_s{seed}"
        log = sweep_dir / exp_name / f"{exp_name}_s{seed}.log"
        result = dict(name=exp_name, seed=seed, setting=setting, run_dir=run_dir, log=log)
        result.update(status=None, error=None, wall=0.0)
        if verbose:
            print(f"[{len(results) + 1}/{total}] {run_dir}: ", end="", flush=True)
        results.append(result)
        epochs = make({k: v for k, v in setting.items() if k in ARGUMENTS}).epochs
        cmd = ppo_command(env_id, env_kwargs, exp_name, seed, sweep_dir, cpu, setting)

        if run_dir.exists():
            try:
                logged, saved = last_epoch(run_dir)
            except ValueError as e:  # a damaged progress.txt: name it and go on with the rest
                logged = saved = -1
                mismatch = f"{e} Remove {run_dir}, or give the sweep another name or data_dir."
            else:
                finished = logged >= epochs - 1 and saved >= epochs - 1
                resume = not finished and saved >= 0
                mismatch = config_mismatch(run_dir, setting, env_kwargs, cpu, resume)
            if mismatch is not None:
                result.update(status="failed", error=mismatch)
            elif finished:
                result.update(status="skipped", **final_row(run_dir))
            elif saved >= 0:
                # Continue from the checkpoint instead of starting over (ppo.py --resume).
                cmd += ["--resume", str(run_dir)]
                result["status"] = "resumed"
            else:
                # Stopped before its first checkpoint: nothing to resume, and a second
                # directory (ppo.py would write ..._s0_1) would count as another seed.
                shutil.rmtree(run_dir)
        if result["status"] == "skipped" and verbose:
            print(f"skipped (finished: epoch {logged} is logged and saved)")
        if result["status"] == "failed" and verbose:
            print(f"failed: {result['error']}")
        if result["status"] in ("skipped", "failed"):
            continue

        start = time.time()
        log.parent.mkdir(parents=True, exist_ok=True)
        # Appended to: a resumed run's log keeps what its first part printed.
        with open(log, "a") as out:
            out.write(f"$ {shlex.join(cmd)}\n")
            out.flush()
            returncode = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env)
        result["wall"] = time.time() - start
        if returncode != 0:
            result.update(status="failed", error=last_line(log.read_text()))
        else:
            result["status"] = result["status"] or "trained"
            result.update(final_row(run_dir))
        if verbose:
            detail = result["error"] if result["error"] else f"see {log}"
            print(f"{result['status']} in {result['wall']:.0f} s ({detail})", flush=True)

    if verbose:
        print_summary(results)
    return results


def summarize(results: Sequence[dict]) -> list[dict]:
    """Per setting: runs that finished, and the mean and std over their seeds of the final
    AverageEpRet and SuccessRate and of the training wall-clock (Time)."""
    rows = []
    for name in dict.fromkeys(r["name"] for r in results):
        runs = [r for r in results if r["name"] == name]
        done = [r for r in runs if r["status"] != "failed"]
        row = dict(name=name, runs=len(runs), failed=len(runs) - len(done))
        for key in ("AverageEpRet", "SuccessRate", "Time"):
            found = [r[key] for r in done if key in r]
            row[key] = (float(np.mean(found)), float(np.std(found))) if found else None
        rows.append(row)
    return rows


def print_summary(results: Sequence[dict]) -> None:
    """The table at the end of a sweep: one row per setting, then every failed run's error."""
    header = ["setting", "seeds ok", "AverageEpRet", "SuccessRate", "Time (s)"]

    def cell(stat, digits):
        return "-" if stat is None else f"{stat[0]:.{digits}f} ± {stat[1]:.{digits}f}"

    table = [
        [
            row["name"],
            f"{row['runs'] - row['failed']}/{row['runs']}",
            cell(row["AverageEpRet"], 2),
            cell(row["SuccessRate"], 2),
            cell(row["Time"], 0),
        ]
        for row in summarize(results)
    ]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    counts = {s: sum(r["status"] == s for r in results) for s in ("trained", "resumed", "skipped")}
    failed = [r for r in results if r["status"] == "failed"]
    print(
        f"\nSweep summary: {len(results)} runs ({counts['trained']} trained, "
        f"{counts['resumed']} resumed, {counts['skipped']} skipped, {len(failed)} failed) in "
        f"{sum(r['wall'] for r in results):.0f} s; last epoch, mean ± std over seeds"
    )
    for row in [header, *table]:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)))
    for r in failed:
        print(f"FAILED {r['run_dir']}: {r['error']} (log: {r['log']})")


def parse_value(text: str, default):
    """A command-line value, typed like the argument's default (bools: true/false, 1/0, yes/no)."""
    if isinstance(default, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not a boolean (true or false)")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m utils.sweep",
        description=(
            "Run ppo.py on every combination of the given values and seeds; any ppo.py flag "
            "takes several values (see python ppo.py --help for their meaning)."
        ),
        formatter_class=DefaultsHelpFormatter,
        allow_abbrev=False,
    )
    add_env_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="Seeds of each setting.")
    parser.add_argument("--name", default="sweep", help="The sweep's folder and name prefix.")
    parser.add_argument("--data_dir", "--data-dir", default="data", help="Where its folder goes.")
    parser.add_argument("--cpu", type=int, default=1, help="MPI ranks of each run.")
    allowed = sweepable_arguments()
    docs = {name: f.metadata["doc"] for name, f in ARGUMENTS.items()}
    docs.update(hid="Units per hidden layer.", l="Hidden layers.")
    for key, default in allowed.items():
        parser.add_argument(
            *(flag_names(key) if key in ARGUMENTS else [f"--{key}"]),
            dest=key,
            nargs="+",
            default=argparse.SUPPRESS,  # absent flags: ppo.py's own default
            metavar="VALUE",
            help=f"{docs.get(key, '')} (ppo.py's default: {default})",
        )
    one_line_errors(parser)
    args = parser.parse_args(argv)

    grid = {}
    for key, default in allowed.items():
        texts = getattr(args, key, None)
        if texts is None:
            continue
        try:
            grid[key] = [parse_value(text, default) for text in texts]
        except ValueError as e:
            parser.error(f"--{key}: {e}")
    try:
        results = sweep(
            args.env,
            args.seeds,
            args.name,
            args.data_dir,
            args.cpu,
            env_kwargs=dict(args.env_kwargs),
            **grid,
        )
    except ValueError as e:
        parser.error(str(e))
    sys.exit(1 if any(r["status"] == "failed" for r in results) else 0)


if __name__ == "__main__":
    main()
