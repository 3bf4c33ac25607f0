"""The learning suite: ArmReach-v0, Hopper-v5 and HalfCheetah-v5 with ppo.py's defaults, N seeds.

Every run is the README's command, `python ppo.py --env ENV --cpu 2 --seed S --epochs E`, with
ppo()'s defaults and nothing tuned per environment; after its last epoch the deterministic
policy runs 50 evaluation episodes on seeds training never uses. Reported per environment, as
mean +- std over the seeds: the final return (the mean AverageEpRet of the last 10% of epochs,
CleanRL's and the issue's measure), the deterministic success rate where the env reports
is_success, env steps/s (StepsPerSec, collection and update) and the wall-clock of a run; beside
it the figure CleanRL publishes for its ppo_continuous_action.py (1M steps, MuJoCo v4, 3 seeds:
CleanRL's documentation, PPO page, "Experiment results" of ppo_continuous_action.py).
Hopper and HalfCheetah need `mujoco` (pinned in requirements.txt).

    python bench/suite.py                       # 3 seeds: about 45 minutes on 2 cores
    python bench/suite.py --envs ArmReach-v0 --seeds 0 --steps 8000   # smoke test
"""

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from utils.cli import read_signature  # noqa: E402

STEPS_PER_EPOCH = read_signature()[0]["steps_per_epoch"]  # ppo()'s default
STEPS = {"ArmReach-v0": 200_000, "Hopper-v5": 1_000_000, "HalfCheetah-v5": 1_000_000}
CLEANRL = {"Hopper-v5": "2383 +- 272 (v4)", "HalfCheetah-v5": "1443 +- 46 (v4)"}


def train(env_id: str, seed: int, steps: int, cpu: int) -> dict:
    """One run of the README command; its final return, success, steps/s and wall-clock."""
    epochs = steps // STEPS_PER_EPOCH
    with tempfile.TemporaryDirectory() as data_dir:
        cmd = [sys.executable, "ppo.py", "--env", env_id, "--cpu", str(cpu), "--seed", str(seed)]
        cmd += ["--epochs", str(epochs), "--eval_freq", str(epochs), "--data_dir", data_dir]
        start = time.time()
        subprocess.run([*cmd, "--quiet"], cwd=REPO, check=True, capture_output=True)
        wall = time.time() - start
        header, *rows = (
            (Path(data_dir) / "ppo" / f"ppo_s{seed}" / "progress.txt").read_text().split("\n")
        )
    table = [
        dict(zip(header.split("\t"), map(float, row.split("\t")), strict=True))
        for row in rows
        if row
    ]
    # Epochs in which no episode ended (1000-step episodes, short epochs) have no return: NaN.
    last = [row["AverageEpRet"] for row in table[-max(1, len(table) // 10) :]]
    return dict(
        ret=statistics.mean(ret for ret in last if not math.isnan(ret)),
        success=table[-1].get("EvalSuccessRate"),
        steps_per_s=statistics.median(row["StepsPerSec"] for row in table[1:] or table),
        wall=wall,
    )


def mean_std(values) -> str:
    values = list(values)
    mean, std = statistics.mean(values), statistics.pstdev(values) if len(values) > 1 else 0.0
    digits = 0 if abs(mean) >= 100 else 2  # MuJoCo returns in the thousands, ArmReach's near -2
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(STEPS), help="Gymnasium env ids")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="env steps per run (default: per env, above)")
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks per run")
    args = parser.parse_args()

    print(
        f"ppo.py defaults, --cpu {args.cpu}, seeds {args.seeds}; final return: last 10% of epochs"
    )
    columns = ["env", "steps", "final return", "success", "steps/s", "wall (s)", "CleanRL"]
    widths = [15, 9, 14, 7, 7, 8, 16]
    print("| " + " | ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for env_id in args.envs:
        steps = args.steps or STEPS.get(env_id, 1_000_000)
        runs = [train(env_id, seed, steps, args.cpu) for seed in args.seeds]
        for seed, run in zip(args.seeds, runs, strict=True):
            print(f"  {env_id} seed {seed}: {run}", file=sys.stderr, flush=True)
        successes = [run["success"] for run in runs if run["success"] is not None]
        cells = [
            env_id,
            steps,
            mean_std(run["ret"] for run in runs),
            f"{statistics.mean(successes):.2f}" if len(successes) == len(runs) else "n/a",
            f"{statistics.median(run['steps_per_s'] for run in runs):.0f}",
            f"{statistics.median(run['wall'] for run in runs):.0f}",
            CLEANRL.get(env_id, "n/a"),
        ]
        print("| " + " | ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)) + " |")
    command = f"python bench/suite.py --envs {' '.join(args.envs)}"
    command += f" --seeds {' '.join(map(str, args.seeds))} --cpu {args.cpu}"
    print(f"command: {command}" + (f" --steps {args.steps}" if args.steps else ""))


if __name__ == "__main__":
    main()
