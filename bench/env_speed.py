"""ArmReach-v0 steps/s against the raw PyBullet cost of the same physics, measured in one run.

env: ``gymnasium.make("ArmReach-v0")`` as users get it (TimeLimit, OrderEnforcing and the passive
env checker, which only inspects the first step), random actions drawn before timing, resets
included whenever an episode ends.
raw: a bare BulletClient with the same URDF, gravity, timestep, motor gains and force limits,
doing per control step exactly what the env asks of PyBullet: one setJointMotorControlArray (the
env's joint targets for these actions, recorded beforehand), the same number of stepSimulation
substeps, one getJointStates and one getLinkState with forward kinematics; at each episode start
it resets the joints to the env's start pose. Its functions are bound once, as the env's are, so
the ratio measures the env's own Python overhead (action checks, observation, reward, wrappers,
the rest of reset) and nothing else.
The two alternate in chunks of 1000 steps so that machine noise hits both alike, ``--repeats``
times; the table shows the medians.
pixels: for every shipped arm, ``gymnasium.make("ArmReach-v1", robot=ARM, obs_mode="pixels")``
(the camera image at its default size, each step) against the same arm with
``obs_mode="state"``, alternating in the same way, with the same random actions; the ratio of
their steps/s (goal: at least 0.10, a pixel step costs at most 10 state steps).

    python bench/env_speed.py [--steps 20000] [--repeats 3] [--pixel_steps 5000]
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pybullet
import pybullet_data
from pybullet_utils.bullet_client import BulletClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import envs  # noqa: E402, F401  (registers ArmReach-v0)
from bench.common import add_out_argument, report  # noqa: E402
from envs.arm import (  # noqa: E402
    MAX_JOINT_DELTA,
    POSITION_GAIN,
    SUBSTEPS,
    TIME_STEP,
)
from envs.robots import PRESETS  # noqa: E402

CHUNK = 1000


def make_workload(steps: int, seed: int) -> tuple[np.ndarray, dict[int, list], list[list]]:
    """Random actions, plus the episode start poses and joint targets they make the env command.

    The physics cost depends on how the arm moves (a still arm is ~30% cheaper), so the raw loop
    replays the env's own motion: the targets follow the env's rule (measured joint positions
    plus the scaled, clipped action, clipped to the joint limits).
    """
    env = gym.make("ArmReach-v0")
    lower, upper = env.unwrapped.joint_lower, env.unwrapped.joint_upper
    actions = np.random.default_rng(seed).uniform(-1, 1, (steps, 7)).astype(np.float32)
    obs, _ = env.reset(seed=seed)
    starts, targets = {0: obs[:7].tolist()}, []
    for i, act in enumerate(actions):
        target = np.clip(obs[:7] + MAX_JOINT_DELTA * np.clip(act, -1, 1), lower, upper)
        targets.append(target.tolist())
        obs, _, terminated, truncated, _ = env.step(act)
        if terminated or truncated:
            obs, _ = env.reset()
            starts[i + 1] = obs[:7].tolist()
    env.close()
    return actions, starts, targets


def env_runner(
    actions: np.ndarray, seed: int, env_id: str = "ArmReach-v0", **kwargs
) -> tuple[Callable[[int, int], float], Callable]:
    """A function that times env steps for `actions[lo:hi]` (resets included), and a closer."""
    env = gym.make(env_id, **kwargs)
    env.reset(seed=seed)

    def run(lo: int, hi: int) -> float:
        start = time.perf_counter()
        for act in actions[lo:hi]:
            _, _, terminated, truncated, _ = env.step(act)
            if terminated or truncated:
                env.reset()
        return time.perf_counter() - start

    return run, env.close


def raw_runner(
    starts: dict[int, list], targets: list[list]
) -> tuple[Callable[[int, int], float], Callable]:
    """A function that times the bare PyBullet calls of control steps lo..hi, and a closer."""
    client = BulletClient(connection_mode=pybullet.DIRECT)
    client.setAdditionalSearchPath(pybullet_data.getDataPath())
    client.setTimeStep(TIME_STEP)
    client.setGravity(0, 0, -9.81)
    arm = client.loadURDF("kuka_iiwa/model.urdf", useFixedBase=True)
    joints = tuple(range(client.getNumJoints(arm)))
    forces = [client.getJointInfo(arm, j)[10] for j in joints]
    gains = [POSITION_GAIN] * len(joints)
    set_motors, step_simulation = client.setJointMotorControlArray, client.stepSimulation
    get_joint_states, get_link_state = client.getJointStates, client.getLinkState
    reset_joint_state, ee_link = client.resetJointState, joints[-1]

    def run(lo: int, hi: int) -> float:
        start = time.perf_counter()
        for i in range(lo, hi):
            if i in starts:
                for j, q in zip(joints, starts[i], strict=True):
                    reset_joint_state(arm, j, q, 0.0)
            set_motors(
                arm,
                joints,
                pybullet.POSITION_CONTROL,
                targetPositions=targets[i],
                forces=forces,
                positionGains=gains,
            )
            for _ in range(SUBSTEPS):
                step_simulation()
            get_joint_states(arm, joints)
            get_link_state(arm, ee_link, computeForwardKinematics=1)
        return time.perf_counter() - start

    return run, client.disconnect


def alternate(runners: list, steps: int) -> list[float]:
    """Steps/s of each (run, close) pair, measured in alternating chunks of CHUNK steps."""
    times = [0.0] * len(runners)
    for lo in range(0, steps, CHUNK):
        hi = min(lo + CHUNK, steps)
        for i, (run, _) in enumerate(runners):
            times[i] += run(lo, hi)
    for _, close in runners:
        close()
    return [steps / t for t in times]


def pixel_rows(steps: int, repeats: int) -> tuple[list[list[str]], dict]:
    """For each shipped arm: ArmReach-v1 with obs_mode="state" and "pixels", side by side."""
    rows, data = [], {}
    for robot in sorted(PRESETS):
        n = len(gym.make("ArmReach-v1", robot=robot).action_space.low)
        actions = np.random.default_rng(0).uniform(-1, 1, (steps, n)).astype(np.float32)
        rates = []
        for _ in range(repeats):
            runners = [
                env_runner(actions, 0, "ArmReach-v1", robot=robot, obs_mode=mode)
                for mode in ("state", "pixels")
            ]
            rates.append(alternate(runners, steps))
        state, pixels = (statistics.median(r[i] for r in rates) for i in range(2))
        data[robot] = dict(state_steps_per_s=state, pixel_steps_per_s=pixels)
        size = gym.make("ArmReach-v1", robot=robot, obs_mode="pixels").observation_space
        side = size["pixels"].shape[0]
        rows += [
            [f"ArmReach-v1 {robot}, obs_mode=state", f"{state:.0f}", f"{1e6 / state:.1f}"],
            [f"ArmReach-v1 {robot}, obs_mode=pixels ({side}x{side})", f"{pixels:.0f}",
             f"{1e6 / pixels:.1f}"],
            [f"ratio pixels / state, {robot} (goal >= 0.10)", f"{pixels / state:.2f}", ""],
        ]  # fmt: skip
    return rows, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20000, help="control steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating env/raw measurements")
    parser.add_argument(
        "--pixel_steps", type=int, default=5000, help="steps per pixels/state measurement and arm"
    )
    add_out_argument(parser, "env_speed")
    args = parser.parse_args()
    if min(args.steps, args.repeats, args.pixel_steps) < 1:
        raise ValueError(
            f"--steps={args.steps}, --repeats={args.repeats} and --pixel_steps="
            f"{args.pixel_steps} must all be at least 1."
        )

    actions, starts, targets = make_workload(args.steps, seed=0)
    env_rates, raw_rates = [], []
    for _ in range(args.repeats):
        # Alternate in chunks so that a change of machine speed during a run hits both alike.
        env, raw = alternate([env_runner(actions, seed=0), raw_runner(starts, targets)], args.steps)
        env_rates.append(env)
        raw_rates.append(raw)
    env_rate, raw_rate = statistics.median(env_rates), statistics.median(raw_rates)
    pixels, pixel_data = pixel_rows(args.pixel_steps, args.repeats)

    report(
        args.out,
        title=f"Env speed: {SUBSTEPS} substeps of {TIME_STEP * 1000:g} ms per step, "
        f"median of {args.repeats}",
        columns=["measurement", "steps/s", "us/step"],
        rows=[
            [
                "ArmReach-v0 (gymnasium.make, random actions, with resets)",
                f"{env_rate:.0f}",
                f"{1e6 / env_rate:.1f}",
            ],
            [
                "raw PyBullet (same arm, substeps and queries per step)",
                f"{raw_rate:.0f}",
                f"{1e6 / raw_rate:.1f}",
            ],
            ["ratio env / raw", f"{env_rate / raw_rate:.2f}", ""],
            *pixels,
        ],  # fmt: skip
        data=dict(env_steps_per_s=env_rate, raw_steps_per_s=raw_rate, pixels=pixel_data),
    )


if __name__ == "__main__":
    main()
