"""Learning on every shipped arm of ArmReach-v1 with PPO's defaults (the README's command).

For each arm and seed this runs, as a subprocess,

    python ppo.py --env ArmReach-v1 --env_kwargs robot=NAME [KEY=VALUE ...] --cpu 2
        --epochs E --eval_freq F --seed S --data_dir DIR --quiet

with E epochs and the normalizers' warm-up making the budget `--steps`.

The headline per arm: the final deterministic policy on 100 episodes of seeds that no training
or evaluation episode uses, median (range) over the seeds. Beside it, a first-crossing figure:
every 8000 env steps (F epochs) the deterministic policy runs 50 evaluation episodes, and the
first evaluation at >= 95% is reported (median and range of its env steps over the seeds), with
the wall-clock of a whole run (median).

    python bench/arms.py                          # 3 arms x 3 seeds x 200k steps
    python bench/arms.py --arms xarm6 --seeds 0 --steps 6000 --cpu 1   # smoke test
    python bench/arms.py --env_kwargs collision_penalty=0            # the penalty's effect
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402
from envs.robots import PRESETS  # noqa: E402
from utils.cli import key_value  # noqa: E402

EVAL_FREQ = max(1, 8000 // common.STEPS_PER_EPOCH)  # epochs between evaluations: every 8000 steps


def train(robot: str, seed: int, args: argparse.Namespace) -> dict:
    """One run of the README command; its evaluations, its final policy, its wall-clock."""
    env_kwargs = dict(args.env_kwargs, robot=robot)
    with tempfile.TemporaryDirectory() as data_dir:
        start = time.perf_counter()
        run_dir, progress = common.run_ppo(
            "ArmReach-v1", seed, data_dir, args.cpu, env_kwargs,
            epochs=common.epochs_for(args.steps), eval_freq=EVAL_FREQ,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        final = common.final_success(run_dir)
    evaluated = ~np.isnan(progress["EvalSuccessRate"])
    evals = np.stack([progress["TotalEnvInteracts"], progress["EvalSuccessRate"]], 1)[evaluated]
    eval_seconds = float(np.sum(progress["EvalTime"]))
    return dict(evals=evals.tolist(), seconds=seconds, eval_seconds=eval_seconds, final=final)


def table_row(robot: str, runs: list[dict]) -> list[str]:
    hits = [common.first_crossing(run["evals"]) for run in runs]
    reached = [hit[0] for hit in hits if hit is not None]
    crossing = f"{common.median_range(reached, 0)} ({len(reached)}/{len(runs)})" if reached else "-"
    seconds = np.median([run["seconds"] for run in runs])
    training = np.median([run["seconds"] - run["eval_seconds"] for run in runs])
    final = common.median_range([run["final"] for run in runs])
    return [robot, final, crossing, f"{seconds:.0f}", f"{training:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--steps",
        type=int,
        default=200_000,
        help="env steps per run, the warm-up included (budget)",
    )
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks per run")
    parser.add_argument(
        "--env_kwargs", type=key_value, nargs="*", default=[], metavar="KEY=VALUE",
        help="more env arguments",
    )  # fmt: skip
    common.add_out_argument(parser, "arms")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    args.env_kwargs = dict(args.env_kwargs)

    runs = {robot: [train(robot, seed, args) for seed in args.seeds] for robot in args.arms}
    extra = " ".join(f"{k}={v}" for k, v in args.env_kwargs.items())
    steps = args.steps
    common.report(
        args.out,
        title=(
            f"ArmReach-v1{' ' + extra if extra else ''}, PPO defaults, {args.cpu} ranks, "
            f"{steps} env steps per run, seeds {args.seeds}"
        ),
        columns=[
            "arm",
            f"final success at {steps // 1000}k, 100 unseen episodes: median (range)",
            "first evaluation >= 95% (every 8000 steps): env steps, median (range) (seeds)",
            "wall-clock per run (s)",
            "of it without the evaluations (s)",
        ],
        rows=[table_row(robot, arm_runs) for robot, arm_runs in runs.items()],
        notes="First crossing: the first of many evaluations to reach 95%, not the final policy.",
        data=dict(runs=runs, steps=steps, seeds=args.seeds, env_kwargs=args.env_kwargs),
    )


if __name__ == "__main__":
    main()
