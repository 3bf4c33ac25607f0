"""Learning speed on ArmReach-v0: this project's PPO against Stable-Baselines3's PPO.

Every configuration trains on ArmReach-v0 for the same budget of env steps (ours: see below),
once per seed. Every `--eval_every` env steps the deterministic policy (the Gaussian mean) runs
the same 50 evaluation episodes (seeds ppo.EVAL_SEED + i, which no training episode uses).
Reported per configuration: env steps and wall-clock to the first evaluation at >= 95% success
(the median over seeds, and how many seeds got there), the final success rate, and the ratio of
wall-clock to Stable-Baselines3's.
Wall-clock is training time only: the time spent in evaluations is subtracted for every
configuration.

The default `--eval_every` is one epoch of ours (2000 steps): every configuration is evaluated
on the same grid, 2000, 4000, ..., fine enough that rounding up to it costs at most one epoch.

- ours: `python ppo.py --env ArmReach-v0 --cpu 2` with its defaults (the README's command);
  its steps include the normalizers' warm-up epoch (2000 steps, not learned from), so it runs
  2000 steps more than the others and its evaluations fall 2000 steps after a multiple of
  `--eval_every` (on the default grid: 4000, 6000, ..., the others' grid from 4000 on);
- sb3: `stable_baselines3.PPO("MlpPolicy", env)` with its defaults (one env), on one torch
  thread like each of our ranks;
- sb3+VecNormalize: the same, observations and rewards normalized by VecNormalize.

    python bench/learn.py                       # 3 seeds, 200k steps: about 40 minutes
    python bench/learn.py --seeds 0 --steps 16000 --eval_every 8000 --episodes 5   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from utils.cli import read_signature  # noqa: E402

SUCCESS_GOAL = 0.95


def run_ours(seed: int, steps: int, eval_every: int, episodes: int, cpu: int) -> list[dict]:
    """Train with the command line, read each evaluation back from progress.txt."""
    steps_per_epoch = read_signature()[0]["steps_per_epoch"]  # ppo()'s default
    if eval_every % steps_per_epoch or steps % steps_per_epoch:
        raise ValueError(f"--steps and --eval_every must be multiples of {steps_per_epoch}")
    with tempfile.TemporaryDirectory() as data_dir:
        cmd = [sys.executable, "ppo.py", "--env", "ArmReach-v0", "--cpu", str(cpu)]
        cmd += ["--seed", str(seed), "--epochs", str(steps // steps_per_epoch)]
        cmd += ["--eval_freq", str(eval_every // steps_per_epoch)]
        cmd += ["--eval_episodes", str(episodes), "--data_dir", data_dir, "--quiet"]
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        progress = Path(data_dir) / "ppo" / f"ppo_s{seed}" / "progress.txt"
        header, *rows = progress.read_text().splitlines()
        table = [
            dict(zip(header.split("\t"), map(float, r.split("\t")), strict=True)) for r in rows
        ]
    points, eval_time = [], 0.0
    for row in table:
        eval_time += row["EvalTime"]
        if not np.isnan(row["EvalSuccessRate"]):
            points.append(
                dict(
                    steps=int(row["TotalEnvInteracts"]),
                    seconds=row["Time"] - eval_time,
                    success=row["EvalSuccessRate"],
                )
            )
    return points


def run_sb3(seed: int, steps: int, eval_every: int, episodes: int, normalize: bool) -> list[dict]:
    """Train Stable-Baselines3's PPO in this process, evaluating as ppo() does."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import envs  # noqa: F401  (registers ArmReach-v0)
    from ppo import EVAL_SEED
    from utils.test_policy import run_policy

    torch.set_num_threads(1)
    venv = make_vec_env("ArmReach-v0", n_envs=1, seed=seed)
    if normalize:
        venv = VecNormalize(venv)
    model = PPO("MlpPolicy", venv, seed=seed, verbose=0)
    eval_env = gym.make("ArmReach-v0")

    def get_action(obs):
        vec_normalize = model.get_vec_normalize_env()
        if vec_normalize is not None:
            obs = vec_normalize.normalize_obs(obs)
        return model.predict(obs, deterministic=True)[0]

    class Evaluate(BaseCallback):
        def __init__(self):
            super().__init__()
            self.points, self.eval_time, self.start = [], 0.0, time.time()

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                eval_start = time.time()
                result = run_policy(eval_env, get_action, episodes, seed=EVAL_SEED)
                self.eval_time += time.time() - eval_start
                seconds = time.time() - self.start - self.eval_time
                self.points.append(
                    dict(steps=self.num_timesteps, seconds=seconds, success=result["success_rate"])
                )
            return True

    callback = Evaluate()
    model.learn(total_timesteps=steps, callback=callback)
    return callback.points


def first_success(points: list[dict]) -> dict | None:
    return next((p for p in points if p["success"] >= SUCCESS_GOAL), None)


def summarize(name: str, runs: list[list[dict]]) -> dict:
    hits = [first_success(points) for points in runs]
    reached = [h for h in hits if h is not None]
    return dict(
        name=name,
        reached=len(reached),
        seeds=len(runs),
        steps=float(np.median([h["steps"] for h in reached])) if reached else np.nan,
        seconds=float(np.median([h["seconds"] for h in reached])) if reached else np.nan,
        final=float(np.mean([points[-1]["success"] for points in runs])),
        total_seconds=float(np.median([points[-1]["seconds"] for points in runs])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per run")
    parser.add_argument("--eval_every", type=int, default=2000, help="env steps between evals")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per evaluation")
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks for this project's PPO")
    parser.add_argument("--worker", choices=["sb3", "sb3+VecNormalize"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:  # one Stable-Baselines3 run, in its own process
        points = run_sb3(
            args.seed, args.steps, args.eval_every, args.episodes, args.worker != "sb3"
        )
        print(json.dumps(points))
        return

    results: dict[str, list[list[dict]]] = {"ours": [], "sb3": [], "sb3+VecNormalize": []}
    # Stable-Baselines3 makes a log folder for every run, in /tmp unless SB3_LOGDIR says where.
    with tempfile.TemporaryDirectory() as sb3_logs:
        sb3_env = dict(os.environ, SB3_LOGDIR=sb3_logs)
        for seed in args.seeds:  # seeds outermost: machine load drifts alike for every config
            run = run_ours(seed, args.steps, args.eval_every, args.episodes, args.cpu)
            results["ours"].append(run)
            for name in ("sb3", "sb3+VecNormalize"):
                cmd = [sys.executable, __file__, "--worker", name, "--seed", str(seed)]
                cmd += ["--steps", str(args.steps), "--eval_every", str(args.eval_every)]
                cmd += ["--episodes", str(args.episodes)]
                out = subprocess.run(
                    cmd, cwd=REPO, env=sb3_env, check=True, capture_output=True, text=True
                )
                results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))

    rows = [summarize(name, runs) for name, runs in results.items()]
    # SB3's best time to 95%; if no SB3 config got there, its training time bounds it from below.
    sb3_reached = [r["seconds"] for r in rows[1:] if r["reached"]]
    sb3_best = min(sb3_reached) if sb3_reached else min(r["total_seconds"] for r in rows[1:])
    bound = "" if sb3_reached else "<"
    print(f"\nArmReach-v0, {args.steps} env steps per run, seeds {args.seeds}, evaluation every "
          f"{args.eval_every} steps on {args.episodes} episodes (deterministic)")  # fmt: skip
    print("| config | reached 95% | env steps to 95% | wall-clock to 95% (s) | final success "
          "| train time (s) | wall-clock ratio to best SB3 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{bound}{r['seconds'] / sb3_best:.2f}" if r["reached"] else "-"
        print(
            f"| {r['name']} | {r['reached']}/{r['seeds']} | {r['steps']:.0f} | {r['seconds']:.1f} "
            f"| {r['final']:.2f} | {r['total_seconds']:.1f} | {ratio} |"
        )
    print("\ncommand: python bench/learn.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
