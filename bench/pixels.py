"""Learning from pixels: the documented pixel command on every shipped arm, beside
Stable-Baselines3's MultiInputPolicy on the same env, with where each epoch's time goes.

- ours: for each arm and seed, the pixel command of docs/envs.md ("Pixels"),

      python ppo.py --env ArmReach-v1 --env_kwargs robot=ARM obs_mode=pixels --cpu 2 --epochs E

  (E epochs and the normalizers' warm-up making `--steps`), started through this file's `--part
  train` under mpirun, which times each epoch's collection and update (ppo.collect_epoch and
  ppo.update, wrapped; nothing of the loop is copied) and reads each rank's RSS after every
  epoch. The headline: the final deterministic policy on 100 episodes of unseen seeds, median
  (range) over the seeds, and the wall-clock of a run.
- env-only: the same envs (a rank's share of num_envs pixel envs, on as many ranks) stepped alone
  with actions of the policy's starting std, resets included (bench/rollout_speed.py's loop):
  the steps/s collection cannot beat.
- sb3: `stable_baselines3.PPO("MultiInputPolicy", env)` with its defaults (one env, its
  NatureCNN, torch's default threads: both cores) for `--sb3_steps` on the same env; its steps/s
  and its final deterministic policy on the same 100 unseen seeds.

    python bench/pixels.py                                   # 3 arms x 3 seeds x 1M, SB3 200k
    python bench/pixels.py --arms kuka_iiwa --sb3_arms       # the same in parts: ours alone,
    python bench/pixels.py --arms --out bench/results/pixels_sb3.json  # SB3 alone
    python bench/pixels.py --arms kuka_iiwa --sb3_arms --seeds 0 --steps 200000 \
        --flags "--no-privileged_critic" --out bench/results/pixels_symmetric.json  # a variant
    python bench/pixels.py --arms kuka_iiwa --seeds 0 --steps 6000 --sb3_steps 2000 \\
        --final_episodes 2 --env_kwargs image_size=40         # smoke test
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402
from envs.camera import DEFAULT_FOV  # noqa: E402
from envs.robots import PRESETS  # noqa: E402
from utils.cli import key_value  # noqa: E402
from utils.mpi import environ_without_mpi, find_mpirun  # noqa: E402
from utils.plot import read_progress  # noqa: E402
from utils.sweep import ppo_command  # noqa: E402

RSS_MARKS = (10_000, 500_000)  # env steps at which each rank's RSS is reported
EVAL_FREQ = max(1, 20_000 // common.STEPS_PER_EPOCH)  # epochs between evaluations: every 20k steps
# The final policy is judged with the camera where its config puts it (the rest of the scene as
# in training): what a cell whose camera was placed as configured sees.
NOMINAL_CAMERA = dict(
    camera_offset=(0.0, 0.0, 0.0), camera_turn=(0.0, 0.0, 0.0), camera_fov=DEFAULT_FOV
)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


def train_part(argv: list[str], timing: Path) -> None:
    """Under mpirun: ppo.py's command line, each epoch's collection and update timed and each
    rank's RSS read after it; rank r writes them to TIMING_r.json."""
    import ppo
    from utils.mpi import proc_id

    times = dict(collect=[], update=[], rss=[])

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            times[name].append(time.perf_counter() - start)
            if name == "update":
                times["rss"].append(rss_mb())
            return result

        return wrapper

    ppo.collect_epoch = timed("collect", ppo.collect_epoch)
    ppo.update = timed("update", ppo.update)
    ppo.main(argv)
    Path(f"{timing}_{proc_id()}.json").write_text(json.dumps(times))


def env_only_part(robot: str, env_kwargs: dict, steps: int, k: int) -> None:
    """Under mpirun: k pixel envs per rank stepped in turn (bench/rollout_speed.py's env-only
    loop); rank 0 prints the total steps/s."""
    from bench.rollout_speed import env_only_rate
    from utils.mpi import mpi_sum, proc_id

    kwargs = dict(env_kwargs, robot=robot)
    rate = mpi_sum(env_only_rate(k, steps, proc_id() * k, "ArmReach-v1", **kwargs))
    if proc_id() == 0:
        print(json.dumps(dict(steps_per_s=float(rate))))


def sb3_part(robot: str, env_kwargs: dict, seed: int, steps: int, episodes: int) -> None:
    """Stable-Baselines3's PPO with MultiInputPolicy and its defaults; prints steps/s and the
    final deterministic policy's success rate."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import envs  # noqa: F401
    from utils.test_policy import run_policy

    kwargs = dict(env_kwargs, robot=robot)
    venv = make_vec_env("ArmReach-v1", n_envs=1, seed=seed, env_kwargs=kwargs)
    # SB3's defaults, its rollout no longer than the budget (a smoke test's few steps)
    model = PPO("MultiInputPolicy", venv, n_steps=min(2048, steps), seed=seed, verbose=0)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start
    eval_env = gym.make("ArmReach-v1", **kwargs)
    result = run_policy(
        eval_env, lambda obs: model.predict(obs, deterministic=True)[0], episodes, common.FINAL_SEED
    )
    print(json.dumps(dict(steps_per_s=steps / seconds, final=result["success_rate"])))


def run_ours(robot: str, seed: int, args: argparse.Namespace) -> dict:
    env_kwargs = dict(args.env_kwargs, robot=robot, obs_mode="pixels")
    with tempfile.TemporaryDirectory() as data_dir:
        if args.keep:
            data_dir = args.keep / robot
            shutil.rmtree(data_dir / "ppo" / f"ppo_s{seed}", ignore_errors=True)
        command = ppo_command(
            "ArmReach-v1", env_kwargs, "ppo", seed, Path(data_dir), 1,
            dict(epochs=common.epochs_for(args.steps), eval_freq=EVAL_FREQ, quiet=True),
        )  # fmt: skip
        argv = command[command.index("--env") : command.index("--cpu")]
        argv += command[command.index("--cpu") + 2 :]  # mpirun gives the ranks
        argv += shlex.split(args.flags)
        timing = Path(data_dir) / "timing"
        start = time.perf_counter()
        common.run([find_mpirun(), "-np", str(args.cpu), sys.executable, __file__, "--part",
                    "train", "--timing", str(timing), "--", *argv])  # fmt: skip
        seconds = time.perf_counter() - start
        run_dir = Path(data_dir) / "ppo" / f"ppo_s{seed}"
        progress = read_progress(run_dir / "progress.txt")
        timing = [json.loads(Path(f"{timing}_{r}.json").read_text()) for r in range(args.cpu)]
        final = common.final_success(run_dir, args.final_episodes, NOMINAL_CAMERA)
    steps = progress["TotalEnvInteracts"]  # after each epoch; the warm-up's collection is first
    evaluated = ~np.isnan(progress["EvalSuccessRate"])
    evals = np.stack([steps, progress["EvalSuccessRate"]], 1)[evaluated].tolist()
    rss = np.array([t["rss"] for t in timing])  # (ranks, epochs)
    marks = {m: rss[:, min(np.searchsorted(steps, m), len(steps) - 1)].tolist() for m in RSS_MARKS}
    return dict(
        seconds=seconds,
        final=final,
        evals=evals,
        eval_seconds=float(np.sum(progress["EvalTime"])),
        collect=timing[0]["collect"][1:],  # without the warm-up
        update=timing[0]["update"],
        steps_per_s=float(np.median(progress["StepsPerSec"][1:])),
        rss_mb=marks,
    )


def run_env_only(robot: str, args: argparse.Namespace) -> float:
    """The pixel envs stepped alone under mpirun (--part env_only): total steps/s."""
    cmd = [find_mpirun(), "-np", str(args.cpu), sys.executable, __file__, "--part", "env_only"]
    cmd += ["--robot", robot, "--env_steps", str(args.env_steps), *kwargs_flags(args.env_kwargs)]
    return json.loads(common.run(cmd).strip().splitlines()[-1])["steps_per_s"]


def run_sb3(robot: str, seed: int, args: argparse.Namespace, logs: str) -> dict:
    """One Stable-Baselines3 run in its own process (--part sb3): steps/s, final success."""
    cmd = [sys.executable, __file__, "--part", "sb3", "--robot", robot, "--seed", str(seed)]
    cmd += ["--sb3_steps", str(args.sb3_steps), "--final_episodes", str(args.final_episodes)]
    cmd += kwargs_flags(args.env_kwargs)
    output = common.run(cmd, env=dict(environ_without_mpi(), SB3_LOGDIR=logs))
    return json.loads(output.strip().splitlines()[-1])


def kwargs_flags(env_kwargs: dict) -> list[str]:
    return ["--env_kwargs", *(f"{k}={json.dumps(v)}" for k, v in env_kwargs.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["train", "env_only", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--arms",
        nargs="*",
        default=sorted(PRESETS),
        choices=sorted(PRESETS),
        help="arms ours runs on",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per run of ours")
    parser.add_argument("--sb3_steps", type=int, default=200_000, help="env steps of SB3's run")
    parser.add_argument(
        "--sb3_arms",
        nargs="*",
        default=["kuka_iiwa"],
        choices=sorted(PRESETS),
        help="arms SB3 runs on",
    )
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks of ours and env-only")
    parser.add_argument("--env_steps", type=int, default=500, help="env-only steps per env")
    parser.add_argument("--final_episodes", type=int, default=common.FINAL_EPISODES)
    parser.add_argument(
        "--env_kwargs", nargs="*", type=key_value, default=[], metavar="KEY=VALUE",
        help="more keywords of ArmReach-v1 (obs_mode=pixels and robot are set)",
    )  # fmt: skip
    parser.add_argument(
        "--flags", default="", help="more ppo.py flags for ours, e.g. '--no-privileged_critic'"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep ours' run directories in KEEP/ARM/ppo/ppo_sSEED "
        "(bench/robustness.py evaluates them)"
    )  # fmt: skip
    parser.add_argument("--robot", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--timing", type=Path, help=argparse.SUPPRESS)
    common.add_out_argument(parser, "pixels")
    args, rest = parser.parse_known_args()
    args.env_kwargs = dict(args.env_kwargs)
    if args.part == "train":
        return train_part(rest[rest.index("--") + 1 :] if "--" in rest else rest, args.timing)
    pixel_kwargs = dict(args.env_kwargs, obs_mode="pixels")
    if args.part == "env_only":
        return env_only_part(
            args.robot, pixel_kwargs, args.env_steps, common.PPO_DEFAULTS["num_envs"] // args.cpu
        )
    if args.part == "sb3":
        return sb3_part(args.robot, pixel_kwargs, args.seed, args.sb3_steps, args.final_episodes)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if not args.arms and not args.sb3_arms:
        parser.error("nothing to run: give --arms, --sb3_arms or both")

    rows, data = [], dict(steps=args.steps, seeds=args.seeds, sb3_steps=args.sb3_steps)
    for robot in args.arms:
        runs = [run_ours(robot, seed, args) for seed in args.seeds]
        env_only = run_env_only(robot, args)
        # Collection steps/s over all ranks: each rank steps its share of an epoch.
        collect_rate = common.STEPS_PER_EPOCH / statistics.median(
            t for r in runs for t in r["collect"]
        )
        update = statistics.median(t for r in runs for t in r["update"])
        rss = {m: max(max(r["rss_mb"][m]) for r in runs) for m in RSS_MARKS}
        hits = [common.first_crossing(r["evals"]) for r in runs]
        steps = [hit[0] for hit in hits if hit is not None]
        crossing = f"{common.median_range(steps, 0)} ({len(steps)}/{len(runs)})" if steps else "-"
        rows.append([
            f"ours, {robot}", common.median_range([r["final"] for r in runs]), crossing,
            f"{statistics.median(r['seconds'] for r in runs):.0f}",
            f"{statistics.median(r['steps_per_s'] for r in runs):.0f}",
            f"{collect_rate:.0f} ({collect_rate / env_only:.2f}x env-only {env_only:.0f})",
            f"{common.STEPS_PER_EPOCH / collect_rate:.2f} / {update:.2f}",
            f"{rss[RSS_MARKS[0]]:.0f} / {rss[RSS_MARKS[1]]:.0f}",
        ])  # fmt: skip
        data[robot] = dict(runs=runs, env_only_steps_per_s=env_only)
    for robot in args.sb3_arms:
        # Stable-Baselines3 makes a log folder for every run, in /tmp unless SB3_LOGDIR says.
        with tempfile.TemporaryDirectory() as sb3_logs:
            sb3 = [run_sb3(robot, seed, args, sb3_logs) for seed in args.seeds]
        sb3_rate = statistics.median(r["steps_per_s"] for r in sb3)
        rows.append([
            f"sb3 MultiInputPolicy, {robot}", common.median_range([r["final"] for r in sb3]), "",
            f"{args.sb3_steps / sb3_rate:.0f}", f"{sb3_rate:.0f}", "", "", "",
        ])  # fmt: skip
        data.setdefault(robot, {})["sb3"] = sb3

    budget = f"{args.steps // 1000}k"
    ran = []  # what this invocation ran, for the title
    if args.arms:
        ran.append(
            f"ours {budget} env steps on {args.cpu} ranks"
            + (f" ({args.flags})" if args.flags else "")
        )
    if args.sb3_arms:
        ran.append(f"SB3 {args.sb3_steps // 1000}k")
    common.report(
        args.out,
        title=f"ArmReach-v1 obs_mode=pixels: {', '.join(ran)}; seeds {args.seeds}",
        columns=[
            "run",
            f"final success, {args.final_episodes} unseen episodes, camera as configured: "
            "median (range)",
            "first evaluation >= 95% (every 20k steps): env steps, median (range) (seeds)",
            "wall-clock per run (s)",
            "training steps/s",
            "collection steps/s (vs env-only)",
            "per epoch: collection / update (s)",
            f"RSS per rank at {RSS_MARKS[0] // 1000}k / {RSS_MARKS[1] // 1000}k steps or end (MB)",
        ],
        rows=rows,
        notes=f"ours: {budget} steps including the normalizers' warm-up ({common.WARMUP_STEPS}); "
        "an epoch is steps_per_epoch env steps over all ranks."
        if args.arms
        else "",
        data=data,
    )


if __name__ == "__main__":
    main()
