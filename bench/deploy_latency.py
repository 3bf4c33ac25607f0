"""Per-action latency of a deployed policy: the ONNX file in onnxruntime against torch, in one run.

One raw observation in, one valid action out (batch 1), for three policies exported from, or
loaded out of, the same run:
- ONNX: examples/deploy_onnx.py's policy_action on its onnxruntime session (one thread);
- torch: utils.test_policy's get_action (numpy normalization, the actor in torch, the clip);
- TorchScript: the deprecated .pt export, called on a tensor of the observation.
Two ways of calling them:
- back-to-back: `--calls` calls on the observations of the policy's own episodes, alternating
  between the policies in chunks, in a rotating order, so that machine noise hits all alike;
- 25 Hz loop: examples/deploy_onnx.py's control loop in real time (the sim steps, then the loop
  sleeps to the next 40 ms tick), `--episodes` episodes of 50 ticks per policy, alternating by
  episode. After a sleep the core's caches are cold (and a VM's core may be parked), so each call
  costs more than back-to-back: this is what a controller pays.
The table shows p50 and p99 over all calls, and their ratio to the ONNX session's in the same mode.
Without --run, a one-epoch ppo() run is trained first: the weights do not change an MLP's cost.

    python bench/deploy_latency.py [--run DIR] [--calls 5000] [--episodes 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import envs  # noqa: E402, F401  (registers ArmReach-v0)
import ppo  # noqa: E402
from bench.common import add_out_argument, report  # noqa: E402
from utils import export  # noqa: E402
from utils.test_policy import load_policy_and_env  # noqa: E402

CHUNK = 250


def load_example():
    """examples/deploy_onnx.py as a module (examples/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("deploy_onnx", REPO / "examples/deploy_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_run(out_dir: Path) -> Path:
    ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        epochs=1,
        steps_per_epoch=1000,
        quiet=True,
        logger_kwargs=dict(output_dir=str(out_dir)),
    )
    return out_dir


def policy_observations(run_dir: Path, n: int) -> np.ndarray:
    """n observations of the run's deterministic policy in its env, episode after episode."""
    env, get_action = load_policy_and_env(run_dir)
    obs, _ = env.reset(seed=0)
    observations = []
    for _ in range(n):
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(get_action(obs))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.array(observations, dtype=np.float32)


def policies(run_dir: Path, tmp: Path) -> dict[str, Callable[[np.ndarray], object]]:
    """name -> act(obs) for the ONNX session, torch's get_action and the TorchScript module."""
    example = load_example()
    onnx_path = export.export_policy(run_dir, tmp / "policy.onnx")
    session, metadata = example.load_policy(onnx_path)
    discrete = metadata["action_space"]["type"] == "Discrete"
    _, get_action = load_policy_and_env(run_dir)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # .pt is deprecated: we know
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        module = torch.jit.load(export.export_policy(run_dir, tmp / "policy.pt"))

    def torchscript_action(obs):
        with torch.inference_mode():
            return module(torch.as_tensor(obs)).numpy()

    return {
        f"ONNX, onnxruntime {onnxruntime.__version__} (1 thread)": (
            lambda obs: example.policy_action(session, obs, discrete)
        ),
        f"torch {torch.__version__} get_action": get_action,
        "TorchScript .pt (deprecated)": torchscript_action,
    }


def measure(acts: dict[str, Callable], observations: np.ndarray) -> dict[str, np.ndarray]:
    """Latency of every call, in microseconds, per policy; chunks alternate in a rotating order."""
    names = list(acts)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up: first calls allocate and (TorchScript) optimize the graph
        for obs in observations[:20]:
            acts[name](obs)
    clock = time.perf_counter
    for c, lo in enumerate(range(0, len(observations), CHUNK)):
        for name in names[c % len(names) :] + names[: c % len(names)]:
            act, out = acts[name], latencies[name]
            for obs in observations[lo : lo + CHUNK]:
                start = clock()
                act(obs)
                out.append(clock() - start)
    return {name: np.array(values) * 1e6 for name, values in latencies.items()}


def measure_paced(acts: dict[str, Callable], run_dir: Path, episodes: int) -> dict:
    """Latency of every call in the example's real-time 25 Hz loop, in microseconds, per policy."""
    example = load_example()
    env, _ = load_policy_and_env(run_dir)
    names = list(acts)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    for e in range(episodes):
        for name in names[e % len(names) :] + names[: e % len(names)]:
            stats = example.control_loop(acts[name], env, 1, seed=e, verbose=False)
            latencies[name] += stats["latencies"]
    env.close()
    return {name: np.array(values) * 1e6 for name, values in latencies.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a run directory (default: train a one-epoch run first)")
    parser.add_argument("--calls", type=int, default=5000, help="back-to-back calls per policy")
    parser.add_argument(
        "--episodes", type=int, default=5, help="25 Hz loop episodes (50 ticks) per policy"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    add_out_argument(parser, "deploy_latency")
    args = parser.parse_args()
    if min(args.calls, args.episodes, args.threads) < 1:
        raise ValueError(
            f"--calls={args.calls}, --episodes={args.episodes} and --threads={args.threads} "
            "must all be at least 1."
        )
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="deploy_latency_") as tmp:
        tmp = Path(tmp)
        run_dir = Path(args.run) if args.run else train_run(tmp / "run")
        observations = policy_observations(run_dir, args.calls)
        acts = policies(run_dir, tmp)
        modes = {
            "back-to-back": measure(acts, observations),
            "25 Hz loop": measure_paced(acts, run_dir, args.episodes),
        }

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    for mode, latencies in modes.items():
        onnx = None
        for name, values in latencies.items():
            p50, p99 = np.percentile(values, [50, 99])
            onnx = onnx or (p50, p99)  # the first policy is the ONNX session
            rows.append([
                f"{name}, {mode}", f"{p50:.1f}", f"{p99:.1f}", f"{p50 / onnx[0]:.2f}",
                f"{p99 / onnx[1]:.2f}",
            ])  # fmt: skip
    report(
        args.out,
        title=(
            f"Per-action latency, batch 1: {'run ' + args.run if args.run else 'a one-epoch run'} "
            f"of ArmReach-v0, MLP (64, 64); torch threads {torch.get_num_threads()}; "
            f"{args.calls} calls back-to-back, {args.episodes * 50} in the 25 Hz loop; "
            f"load average {load}"
        ),
        columns=["policy, mode", "p50 us", "p99 us", "p50 / ONNX", "p99 / ONNX"],
        rows=rows,
        notes="ratio = latency / the ONNX session's in the same mode: above 1, onnxruntime is "
        "faster",
    )


if __name__ == "__main__":
    main()
