"""The learning suite: ArmReach-v0, Hopper-v5 and HalfCheetah-v5 with ppo.py's defaults, N seeds.

Every run is the README's command, `python ppo.py --env ENV --cpu 2 --seed S --epochs E` (E
epochs and the normalizers' warm-up make the budget of env steps), with ppo()'s defaults and
nothing tuned per environment. Reported per environment, over the seeds:
the final return (the mean AverageEpRet of the last 10% of epochs, CleanRL's measure), mean +-
std and per seed; where the env reports is_success, the final deterministic policy's success on
100 unseen episodes, median (range); env steps/s (StepsPerSec, collection and update) and the
wall-clock of a run; beside it the figure CleanRL publishes for its ppo_continuous_action.py
(1M steps, MuJoCo v4, 3 seeds: CleanRL's documentation, PPO page, "Experiment results" of
ppo_continuous_action.py). Hopper and HalfCheetah need `mujoco` (requirements-dev.txt).

    python bench/suite.py                       # 3 seeds: about 20 minutes on 2 cores
    python bench/suite.py --envs ArmReach-v0 --seeds 0 --steps 8000   # smoke test
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    add_out_argument,
    epochs_for,
    final_success,
    median_range,
    report,
    run_ppo,
)

STEPS = {"ArmReach-v0": 200_000, "Hopper-v5": 1_000_000, "HalfCheetah-v5": 1_000_000}
CLEANRL = {"Hopper-v5": "2383 +- 272 (v4)", "HalfCheetah-v5": "1443 +- 46 (v4)"}


def train(env_id: str, seed: int, steps: int, cpu: int) -> dict:
    """One run of the README command; its final return, success, steps/s, wall-clock, curve."""
    with tempfile.TemporaryDirectory() as data_dir:
        start = time.time()
        run_dir, progress = run_ppo(env_id, seed, data_dir, cpu, epochs=epochs_for(steps))
        wall = time.time() - start
        success = final_success(run_dir) if "SuccessRate" in progress else None
    returns = progress["AverageEpRet"]
    # Epochs in which no episode ended (1000-step episodes, short epochs) have no return: NaN.
    last = [r for r in returns[-max(1, len(returns) // 10) :] if not math.isnan(r)]
    rates = progress["StepsPerSec"]
    return dict(
        ret=statistics.mean(last),
        success=success,
        steps_per_s=statistics.median(rates[1:] if len(rates) > 1 else rates),
        wall=wall,
        total_steps=int(progress["TotalEnvInteracts"][-1]),  # the warm-up's steps included
        curve=[progress["TotalEnvInteracts"].tolist(), returns.tolist()],
    )


def mean_std(values) -> str:
    values = list(values)
    mean, std = statistics.mean(values), statistics.pstdev(values) if len(values) > 1 else 0.0
    digits = 0 if abs(mean) >= 100 else 2  # MuJoCo returns in the thousands, ArmReach's near -2
    per_seed = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{mean:.{digits}f} +- {std:.{digits}f}" + (f" ({per_seed})" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(STEPS), help="Gymnasium env ids")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="env steps per run (default: per env, above)")
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks per run")
    add_out_argument(parser, "suite")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)

    runs, rows = {}, []
    for env_id in args.envs:
        steps = args.steps or STEPS.get(env_id, 1_000_000)
        runs[env_id] = [train(env_id, seed, steps, args.cpu) for seed in args.seeds]
        successes = [run["success"] for run in runs[env_id] if run["success"] is not None]
        rows.append([
            env_id,
            runs[env_id][0]["total_steps"],
            mean_std(run["ret"] for run in runs[env_id]),
            median_range(successes) if successes else "n/a",
            f"{statistics.median(run['steps_per_s'] for run in runs[env_id]):.0f}",
            f"{statistics.median(run['wall'] for run in runs[env_id]):.0f}",
            CLEANRL.get(env_id, "n/a"),
        ])  # fmt: skip
    report(
        args.out,
        title=f"ppo.py defaults, --cpu {args.cpu}, seeds {args.seeds}",
        columns=[
            "env",
            "env steps",
            "final return: mean +- std (per seed)",
            "final success, 100 unseen episodes: median (range)",
            "env steps/s",
            "wall-clock per run (s)",
            "CleanRL, published",
        ],
        rows=rows,
        notes="Final return: the mean AverageEpRet of the last 10% of epochs.",
        data=dict(runs=runs, seeds=args.seeds),
    )


if __name__ == "__main__":
    main()
