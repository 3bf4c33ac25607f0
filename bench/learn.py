"""Learning on ArmReach-v0: this project's PPO against Stable-Baselines3's PPO, at one budget.

Every configuration trains for the same budget of env steps (`--steps`), once per seed.
The headline: the final deterministic policy at the budget, on 100 episodes of seeds that no
training or evaluation episode uses, median (range) over the seeds; and the wall-clock of
training to the budget, with its ratio to the best Stable-Baselines3 configuration. Beside it, a
first-crossing figure: every `--eval_every` steps the deterministic policy runs `--episodes`
evaluation episodes (the same seeds each time), and the first evaluation at >= 95% is reported
with its wall-clock (the curves of these evaluations are the docs' plot). Wall-clock is training
time only: evaluations are subtracted for every configuration.

- ours: `python ppo.py --env ArmReach-v0 --cpu 2` with its defaults (the README's command); its
  normalizers' warm-up epoch (not learned from) counts in the budget, so it runs one epoch
  fewer, and its evaluations fall on the same grid as the others';
- sb3: `stable_baselines3.PPO("MlpPolicy", env)` with its defaults (one env), on one torch
  thread like each of our ranks;
- sb3+VecNormalize: the same, observations and rewards normalized by VecNormalize.

    python bench/learn.py                       # 3 seeds, 102k steps: about 20 minutes
    python bench/learn.py --seeds 0 --steps 6000 --eval_every 2000 --episodes 2 --final_episodes 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    FINAL_SEED,
    STEPS_PER_EPOCH,
    add_out_argument,
    epochs_for,
    final_success,
    first_crossing,
    median_range,
    report,
    run,
    run_ppo,
)

CONFIGS = ("ours", "sb3", "sb3+VecNormalize")


def run_ours(seed: int, args: argparse.Namespace) -> dict:
    """Train with the command line; its evaluations from progress.txt, its final policy."""
    if args.eval_every % STEPS_PER_EPOCH:
        raise ValueError(f"--eval_every must be a multiple of {STEPS_PER_EPOCH}")
    with tempfile.TemporaryDirectory() as data_dir:
        run_dir, progress = run_ppo(
            "ArmReach-v0", seed, data_dir, args.cpu, epochs=epochs_for(args.steps),
            eval_freq=args.eval_every // STEPS_PER_EPOCH, eval_episodes=args.episodes,
        )  # fmt: skip
        final = final_success(run_dir, args.final_episodes)
    seconds = progress["Time"] - np.cumsum(progress["EvalTime"])
    evaluated = ~np.isnan(progress["EvalSuccessRate"])
    points = np.stack([progress["TotalEnvInteracts"], seconds, progress["EvalSuccessRate"]], 1)
    return dict(evals=points[evaluated].tolist(), train_seconds=float(seconds[-1]), final=final)


def run_sb3(seed: int, args: argparse.Namespace, normalize: bool) -> dict:
    """Train Stable-Baselines3's PPO in this process, evaluating as ppo() does."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import envs  # noqa: F401  (registers ArmReach-v0)
    from utils.seeding import evaluation_seed
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
            self.evals, self.eval_time, self.start = [], 0.0, time.time()

        def _on_step(self) -> bool:
            if self.num_timesteps % args.eval_every == 0:
                eval_start = time.time()
                first_seed = evaluation_seed(seed)  # the episodes ppo() evaluates on
                result = run_policy(eval_env, get_action, args.episodes, seed=first_seed)
                self.eval_time += time.time() - eval_start
                seconds = time.time() - self.start - self.eval_time
                self.evals.append([self.num_timesteps, seconds, result["success_rate"]])
            return True

    callback = Evaluate()
    start = time.time()
    model.learn(total_timesteps=args.steps, callback=callback)
    train_seconds = time.time() - start - callback.eval_time
    final = run_policy(eval_env, get_action, args.final_episodes, seed=FINAL_SEED)
    return dict(evals=callback.evals, train_seconds=train_seconds, final=final["success_rate"])


def summarize(name: str, runs: list[dict], steps: int) -> dict:
    hits = [first_crossing([(s, rate) for s, _, rate in run["evals"]]) for run in runs]
    seconds = [
        next(sec for s, sec, _ in run["evals"] if s == hit[0])
        for run, hit in zip(runs, hits, strict=True)
        if hit is not None
    ]
    return dict(
        name=name,
        final=[run["final"] for run in runs],
        train_seconds=float(np.median([run["train_seconds"] for run in runs])),
        reached=len(seconds),
        crossing_steps=[hit[0] for hit in hits if hit is not None],
        crossing_seconds=float(np.median(seconds)) if seconds else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--steps", type=int, default=102_000, help="env steps per run: ppo.py's default run"
    )
    parser.add_argument("--eval_every", type=int, default=2000, help="env steps between evals")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per evaluation")
    parser.add_argument(
        "--final_episodes", type=int, default=100, help="unseen episodes of the final policy"
    )
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks for this project's PPO")
    parser.add_argument("--worker", choices=CONFIGS[1:], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    add_out_argument(parser, "learn")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)

    if args.worker is not None:  # one Stable-Baselines3 run, in its own process
        print(json.dumps(run_sb3(args.seed, args, normalize=args.worker != "sb3")))
        return

    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    # Stable-Baselines3 makes a log folder for every run, in /tmp unless SB3_LOGDIR says where.
    with tempfile.TemporaryDirectory() as sb3_logs:
        sb3_env = dict(os.environ, SB3_LOGDIR=sb3_logs)
        for seed in args.seeds:  # seeds outermost: machine load drifts alike for every config
            runs["ours"].append(run_ours(seed, args))
            for name in CONFIGS[1:]:
                cmd = [sys.executable, __file__, *argv, "--worker", name, "--seed", str(seed)]
                runs[name].append(json.loads(run(cmd, env=sb3_env).strip().splitlines()[-1]))

    rows = [summarize(name, config_runs, args.steps) for name, config_runs in runs.items()]
    # The best SB3 time to 95%; if no SB3 config got there, its training time bounds it below.
    sb3_times = [r["crossing_seconds"] for r in rows[1:] if r["reached"]]
    sb3_best = min(sb3_times) if sb3_times else min(r["train_seconds"] for r in rows[1:])
    bound = "" if sb3_times else "<"
    table = []
    for r in rows:
        crossing = "-"
        if r["reached"]:
            crossing = f"{np.median(r['crossing_steps']):.0f} ({r['reached']}/{len(args.seeds)})"
        table.append([
            r["name"],
            median_range(r["final"]),
            f"{r['train_seconds']:.1f}",
            crossing,
            "-" if r["crossing_seconds"] is None else f"{r['crossing_seconds']:.1f}",
            f"{bound}{r['crossing_seconds'] / sb3_best:.2f}" if r["reached"] else "-",
        ])  # fmt: skip
    report(
        args.out,
        title=(
            f"ArmReach-v0, {args.steps} env steps per run, seeds {args.seeds}: the final "
            f"deterministic policy on {args.final_episodes} unseen episodes; first crossing on "
            f"evaluations of {args.episodes} episodes every {args.eval_every} steps"
        ),
        columns=[
            "config",
            f"final success at {args.steps // 1000}k: median (range)",
            f"training time to {args.steps // 1000}k (s)",
            "first evaluation >= 95%: env steps, median (seeds)",
            "wall-clock to it (s)",
            "ratio to best SB3",
        ],
        rows=table,
        notes="First crossing: the first of many evaluations to reach 95%, not the final policy.",
        data=dict(runs=runs, steps=args.steps, seeds=args.seeds),
    )


if __name__ == "__main__":
    main()
