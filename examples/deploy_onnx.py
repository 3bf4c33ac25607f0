"""Run an exported policy at a fixed control rate, as on a robot's computer: no torch needed.

    python -m utils.export RUN      # writes RUN/policy.onnx; RUN: a run directory
    python examples/deploy_onnx.py RUN/policy.onnx [--episodes 10] [--no-realtime]

Imports only numpy, onnxruntime, gymnasium and this repository's envs (which registers
ArmReach-v0). The env is rebuilt from the model's metadata (env_id, env_kwargs). Every 40 ms
(25 Hz, ArmReach-v0's control rate) the loop feeds the latest observation to the policy, sends the
action to the sim and sleeps until the next tick; a tick that starts late is counted as a missed
deadline and the clock restarts from it rather than rushing to catch up. It prints one line per
episode, the success rate, and the policy's latency per action (p50/p99, microseconds: the
session call with its input and output handling, what a real controller pays per tick).
--no-realtime runs the same loop without sleeping.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import envs  # noqa: E402, F401  (registers ArmReach-v0)

CONTROL_HZ = 25.0
ONNX_TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16}


def load_policy(path: str | Path) -> tuple[ort.InferenceSession, dict]:
    """(onnxruntime session, metadata) of a policy written by `python -m utils.export`.

    The metadata holds env_id, env_kwargs, observation_space, action_space, normalize_obs and
    run_dir; the exporter stores each as a JSON text.
    """
    options = ort.SessionOptions()
    # One observation per call: a thread pool only adds hand-off latency and jitter.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    custom = session.get_modelmeta().custom_metadata_map
    metadata = {key: json.loads(value) for key, value in custom.items()}
    return session, metadata


def make_env(metadata: dict) -> gym.Env:
    """The env the policy was trained in, from the model's metadata alone."""
    return gym.make(metadata["env_id"], **metadata.get("env_kwargs", {}))


def policy_action(session: ort.InferenceSession, obs, discrete: bool):
    """One raw observation in, one action the env accepts out (the graph normalizes and clips).
    A Dict observation feeds one input per entry the graph takes (images uint8, vectors
    float32), each as a batch of one."""
    if isinstance(obs, dict):
        feed = {
            i.name: np.asarray(obs[i.name], dtype=ONNX_TYPES[i.type])[None]
            for i in session.get_inputs()
        }
    else:
        feed = {"obs": np.asarray(obs, dtype=np.float32).reshape(1, -1)}
    act = session.run(None, feed)[0][0]
    return int(act) if discrete else act


def control_loop(
    act: Callable[[np.ndarray], np.ndarray | int],
    env: gym.Env,
    episodes: int = 10,
    seed: int = 0,
    realtime: bool = True,
    rate_hz: float = CONTROL_HZ,
    verbose: bool = True,
) -> dict:
    """Run `episodes` episodes (episode i resets with seed + i), one call of act(obs) per tick.

    Returns:
        dict(returns, lengths, successes (None if the env reports no is_success), latencies
        (seconds, one per action), missed (ticks that started late), elapsed (seconds)).
    """
    period = 1.0 / rate_hz
    returns, lengths, successes, latencies = [], [], [], []
    missed = 0
    start_time = time.perf_counter()
    next_tick = start_time
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        ep_ret, ep_len, done = 0.0, 0, False
        while not done:
            start = time.perf_counter()
            action = act(obs)
            latencies.append(time.perf_counter() - start)
            obs, rew, terminated, truncated, info = env.step(action)
            ep_ret += float(rew)
            ep_len += 1
            done = terminated or truncated
            if realtime:
                next_tick += period
                delay = next_tick - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    missed += 1
                    next_tick = time.perf_counter()
        returns.append(ep_ret)
        lengths.append(ep_len)
        successes.append(bool(info["is_success"]) if "is_success" in info else None)
        if verbose:
            success = "" if successes[-1] is None else f"\tSuccess {successes[-1]}"
            print(f"Episode {i}\tEpRet {ep_ret!r}\tEpLen {ep_len}{success}", flush=True)
    return dict(
        returns=returns,
        lengths=lengths,
        successes=None if None in successes else successes,
        latencies=latencies,
        missed=missed,
        elapsed=time.perf_counter() - start_time,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python examples/deploy_onnx.py",
        description="Run an ONNX policy at a fixed control rate with onnxruntime (no torch).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("policy", help="An .onnx file written by python -m utils.export.")
    parser.add_argument("--episodes", "-n", type=int, default=10, help="Episodes to run.")
    parser.add_argument("--seed", type=int, default=0, help="Episode i resets with seed + i.")
    parser.add_argument(
        "--no-realtime",
        "--no_realtime",
        dest="realtime",
        action="store_false",
        help=f"Run the loop without sleeping to the next {1000 / CONTROL_HZ:g} ms tick.",
    )
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes={args.episodes} must be at least 1.")
    if not Path(args.policy).is_file():
        parser.exit(2, f"{parser.prog}: error: {args.policy} does not exist; export a run with "
                       "python -m utils.export RUN (it writes RUN/policy.onnx).\n")  # fmt: skip
    try:
        session, metadata = load_policy(args.policy)
    except Exception as e:  # onnxruntime's load errors share no base class below Exception
        reason = str(e).strip().splitlines()[0]
        parser.exit(2, f"{parser.prog}: error: {args.policy} is not a policy from "
                       f"utils.export: {reason}\n")  # fmt: skip
    if "env_id" not in metadata:
        parser.exit(2, f"{parser.prog}: error: {args.policy} has no env_id in its metadata; "
                       "export it with python -m utils.export.\n")  # fmt: skip
    env = make_env(metadata)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    stats = control_loop(
        lambda obs: policy_action(session, obs, discrete),
        env,
        args.episodes,
        args.seed,
        args.realtime,
    )
    env.close()
    latencies_us = np.array(stats["latencies"]) * 1e6
    p50, p99 = np.percentile(latencies_us, [50, 99])
    if stats["successes"] is not None:
        print(f"SuccessRate\t{float(np.mean(stats['successes']))!r}")
    print(f"AverageEpRet\t{np.mean(stats['returns']):.4g}")
    print(
        f"Latency per action\tp50 {p50:.1f} us\tp99 {p99:.1f} us\t"
        f"({len(latencies_us)} actions, onnxruntime {ort.__version__}, 1 thread)"
    )
    if args.realtime:
        print(
            f"Control rate\t{CONTROL_HZ:g} Hz\t{sum(stats['lengths'])} ticks in "
            f"{stats['elapsed']:.2f} s\tmissed deadlines {stats['missed']}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
