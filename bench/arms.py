"""Learning on every shipped arm of ArmReach-v1 with PPO's defaults (the README's command).

For each arm and seed this runs, as a subprocess,

    python ppo.py --env ArmReach-v1 --env_kwargs robot=NAME [KEY=VALUE ...] --cpu 2
        --epochs E --eval_freq F --seed S --data_dir DIR --quiet

and reads progress.txt back: every 8000 env steps (F epochs) the deterministic policy runs 50
evaluation episodes on seeds that training never uses. Printed per arm: how many seeds reached
>= 95% evaluation success, the median env steps to get there with the range over seeds, the final
success rate (mean over seeds) and the wall-clock of a whole run (median), then the command that
reproduces the table.

    python bench/arms.py                          # 3 arms x 3 seeds x 200k steps
    python bench/arms.py --arms xarm6 --seeds 0 --epochs 2 --cpu 1   # smoke test
    python bench/arms.py --env_kwargs collision_penalty=0            # the penalty's effect
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from envs.robots import PRESETS  # noqa: E402  (after the path: run from anywhere)
from utils.cli import read_signature  # noqa: E402

SUCCESS_GOAL = 0.95
STEPS_PER_EPOCH = read_signature()[0]["steps_per_epoch"]  # ppo()'s default
EVAL_FREQ = max(1, 8000 // STEPS_PER_EPOCH)  # epochs between evaluations: every 8000 steps


def train(robot: str, seed: int, args: argparse.Namespace) -> dict:
    """One run of the README command; its evaluations and its wall-clock."""
    with tempfile.TemporaryDirectory() as data_dir:
        cmd = [sys.executable, "ppo.py", "--env", "ArmReach-v1"]
        cmd += ["--env_kwargs", f"robot={robot}", *args.env_kwargs]
        cmd += ["--cpu", str(args.cpu), "--epochs", str(args.epochs)]
        cmd += ["--eval_freq", str(EVAL_FREQ)]
        cmd += ["--seed", str(seed), "--data_dir", data_dir, "--quiet"]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        progress = next(Path(data_dir).glob(f"*/*_s{seed}/progress.txt"))
        header, *rows = progress.read_text().splitlines()
    table = [dict(zip(header.split("\t"), map(float, r.split("\t")), strict=True)) for r in rows]
    evals = [
        (int(row["TotalEnvInteracts"]), row["EvalSuccessRate"])
        for row in table
        if not np.isnan(row["EvalSuccessRate"])
    ]
    return dict(evals=evals, seconds=seconds)


def summarize(robot: str, runs: list[dict]) -> str:
    """One table row: seeds at 95%, median steps to 95% (range), final success, wall-clock."""
    hits = [next((s for s, rate in run["evals"] if rate >= SUCCESS_GOAL), None) for run in runs]
    reached = sorted(h for h in hits if h is not None)
    if reached:
        steps = f"{np.median(reached):.0f} ({reached[0]}-{reached[-1]})"
    else:
        steps = "-"
    final = np.mean([run["evals"][-1][1] for run in runs])
    seconds = np.median([run["seconds"] for run in runs])
    return f"| {robot} | {len(reached)}/{len(runs)} | {steps} | {final:.2f} | {seconds:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--epochs",
        type=int,
        default=200_000 // STEPS_PER_EPOCH,
        help=f"{STEPS_PER_EPOCH} env steps each (ppo()'s steps_per_epoch)",
    )
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks per run")
    parser.add_argument(
        "--env_kwargs", nargs="*", default=[], metavar="KEY=VALUE", help="more env arguments"
    )
    args = parser.parse_args()

    rows = []
    for robot in args.arms:
        runs = [train(robot, seed, args) for seed in args.seeds]
        rows.append(summarize(robot, runs))
    extra = " ".join(args.env_kwargs)
    print(
        f"\nArmReach-v1{' ' + extra if extra else ''}, PPO defaults, {args.cpu} ranks, "
        f"{args.epochs * STEPS_PER_EPOCH} env steps per run, seeds {args.seeds}; evaluation "
        "(deterministic, 50 unseen seeds) every 8000 steps"
    )
    print(
        "| arm | reached 95% | env steps to 95%: median (range) | final success | wall-clock (s) |"
    )
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print("\ncommand: python bench/arms.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
