"""ArmReach-v1's pose goal per shipped arm: how far the targets turn, and who reaches them.

For each arm, `gym.make("ArmReach-v1", robot=ARM, goal="pose")` and `--episodes` seeded
episodes:
- the angle between each target's orientation and the end effector's at the home pose (rad,
  median and 90th percentile): how wide the task's orientations are;
- the scripted IK controller (`arm.ik_action()`) and a uniformly random policy: the share of
  episodes that end in success, and the IK controller's episodes with a collision;
- the milliseconds of a reset (drawing a reachable pose) beside those of a step (random actions).

    python bench/poses.py                 # 3 arms x 50 episodes, about a minute
    python bench/poses.py --arms xarm6 --episodes 5 --out data/poses_smoke.json   # smoke test
"""

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import envs  # noqa: E402, F401  (registers ArmReach-v1)
from bench.common import add_out_argument, report  # noqa: E402
from envs import orientation  # noqa: E402
from envs.robots import PRESETS  # noqa: E402


def episodes(env: gym.Env, seeds: range, policy) -> tuple[float, int, float, float]:
    """Success share, episodes with a collision, ms per reset and ms per step of `policy`."""
    successes, collided, reset_s, step_s, steps = 0, 0, 0.0, 0.0, 0
    for seed in seeds:
        start = time.perf_counter()
        env.reset(seed=seed)
        reset_s += time.perf_counter() - start
        done, collision = False, False
        while not done:
            act = policy()
            start = time.perf_counter()
            _, _, terminated, truncated, info = env.step(act)
            step_s += time.perf_counter() - start
            steps += 1
            done, collision = terminated or truncated, collision or info["collision"]
        successes += info["is_success"]
        collided += collision
    return successes / len(seeds), collided, 1000 * reset_s / len(seeds), 1000 * step_s / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    parser.add_argument("--episodes", type=int, default=50)
    add_out_argument(parser, "poses")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)

    rows, data = [], {}
    seeds = range(args.episodes)
    for robot in args.arms:
        env = gym.make("ArmReach-v1", robot=robot, goal="pose")
        arm = env.unwrapped
        home = arm.client.getLinkState(arm.body, arm.ee_link, computeForwardKinematics=1)[5]
        angles = []
        for seed in seeds:
            env.reset(seed=seed)
            angles.append(orientation.error(arm.target_orn, home)[1])
        ik, ik_collided, _, _ = episodes(env, seeds, arm.ik_action)
        env.action_space.seed(0)
        rand, _, reset_ms, step_ms = episodes(env, seeds, env.action_space.sample)
        env.close()
        rows.append([
            robot, f"{np.median(angles):.2f}", f"{np.percentile(angles, 90):.2f}",
            f"{ik:.2f}", ik_collided, f"{rand:.2f}", f"{reset_ms:.2f}", f"{step_ms:.2f}",
        ])  # fmt: skip
        data[robot] = dict(angles=angles)
    report(
        args.out,
        title=f"ArmReach-v1 goal=pose, {args.episodes} seeded episodes per arm",
        columns=[
            "arm",
            "target turned from home (rad): median",
            "90th percentile",
            "IK controller success",
            "IK episodes with a collision",
            "random policy success",
            "reset (ms)",
            "step (ms)",
        ],
        rows=rows,
        data=data,
    )


if __name__ == "__main__":
    main()
