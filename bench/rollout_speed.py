"""PPO collection steps/s per rank against env-only steps/s of the same K envs, in one run, and
where the collection's time goes.

rollout: the real ``ppo.ppo`` on ``--env`` (ArmReach-v0 unless told; ``--env_kwargs`` as ppo.py
takes them, the flag given again for each further env setting) with ``num_envs=K``, one
epoch, in this process (a world of one). Nothing of its loop is copied here: the bench wraps
``ppo.EnvBatch.step``, the actor-critic's ``step`` and ``core.PPOBuffer.store`` in timers, and the
clock runs from the first ``buf.store`` of the epoch to the last one. Between them lie T - 1 whole
steps of ppo()'s loop, each exactly as training does it: record and normalize the observations,
one batched ``ac.step``, clip the actions, step each of the K envs, ``buf.store``,
``logger.store``, ``finish_path`` with a batched V(s_T) bootstrap at each episode end, reset.
Building the envs, the update (cut to one gradient step each for pi and v), logging and the
checkpoint lie outside the window. Per env step, the table splits the window's time into the K
envs' steps (``EnvBatch.step``: the envs and the batch's bookkeeping), the policy (``ac.step``:
actor and critic forward, the sample, its log-prob), ``buf.store`` and the rest of the loop.
env-only: K fresh ``gymnasium.make(env, **env_kwargs)`` envs stepped one after the other, T steps
each, with actions drawn beforehand from the untrained policy's noise (a Gaussian of std
exp(-0.5), as ``log_std`` starts, clipped to the action box: the physics cost depends on how the
arm moves), resets included whenever an episode ends (ArmReach: at the time limit).
Threads: by default torch runs with what ppo() itself sets (``setup_pytorch_for_mpi``: one
thread per rank); ``--threads N`` replaces that call, as seen from
ppo.py, by ``torch.set_num_threads(N)``. The header prints the number the rollout ran with. It
matters: with 2 threads every tiny op of the policy enters the thread pool, and on a busy machine
the pool's second thread waits for a core (measured: ~3 ms per tanh, rollouts ~10x slower).

steps/s count env steps (K per loop iteration); ratio = rollout / env-only, so 1 - ratio is the
share of a rank's collection time spent outside the envs (policy, normalizer, buffer, logger).
For each K the two alternate (env-only first in even repeats, rollout first in odd ones), so that
machine noise hits both alike; the table shows the medians over ``--repeats``. The row marked
(default) is a rank's share of ppo()'s default ``num_envs`` under ``--cpu 2``; the goal there
is a ratio >= 0.8.

    python bench/rollout_speed.py [--steps 8000] [--repeats 3] [--envs 1 4 8 16] [--threads N]
    python bench/rollout_speed.py --env ArmReach-v1 --envs 20 --env_kwargs obs_mode=pixels \
        robot=kuka_iiwa --env_kwargs obs_mode=pixels robot=xarm6    # pixels, two arms
"""

import argparse
import contextlib
import functools
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
import envs  # noqa: E402, F401  (registers ArmReach-v0)
import ppo  # noqa: E402
from bench.common import add_out_argument, report  # noqa: E402
from utils.cli import key_value  # noqa: E402

ENV_ID = "ArmReach-v0"
# a rank's share of ppo()'s default num_envs in the documented 2-rank run
DEFAULT_K = inspect.signature(ppo.ppo).parameters["num_envs"].default // 2
INITIAL_STD = float(np.exp(-0.5))  # MLPGaussianActor's starting log_std


@contextlib.contextmanager
def torch_threads_in_ppo(threads: int | None):
    """Within the block, ppo() sets `threads` torch threads instead of one (if given)."""
    original = ppo.setup_pytorch_for_mpi
    if threads is not None:
        ppo.setup_pytorch_for_mpi = lambda: torch.set_num_threads(threads)
    try:
        yield
    finally:
        ppo.setup_pytorch_for_mpi = original


@contextlib.contextmanager
def timed_collection():
    """Within the block, ppo() notes (start, duration) of each call of EnvBatch.step, of the
    actor-critic's `step` and of `buf.store`."""
    record: dict[str, list[tuple[float, float]]] = dict(envs=[], policy=[], buffer=[])

    def timed(function, part: str):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            record[part].append((start, time.perf_counter() - start))
            return result

        return wrapper

    parts = [(ppo.EnvBatch, "step", "envs"), (core.MLPActorCritic, "step", "policy"),
             (core.PPOBuffer, "store", "buffer")]  # fmt: skip
    originals = [(cls, name, getattr(cls, name)) for cls, name, _ in parts]
    for cls, name, part in parts:
        setattr(cls, name, timed(getattr(cls, name), part))
    try:
        yield record
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


def rollout_rate(
    k: int, steps_per_env: int, out_dir: Path, seed: int, threads: int | None = None,
    env_id: str = ENV_ID, env_kwargs: dict | None = None,
) -> tuple[float, dict[str, float], int]:  # fmt: skip
    """Env steps/s of ppo()'s collection loop with k envs; microseconds per env step in the envs,
    the policy, the buffer and the rest of the loop; and the torch threads it ran with."""
    with torch_threads_in_ppo(threads), timed_collection() as record:
        ppo.ppo(
            lambda: gym.make(env_id, **(env_kwargs or {})),
            seed=seed,
            steps_per_epoch=k * steps_per_env,
            epochs=1,
            train_pi_iters=1,
            train_v_iters=1,
            num_envs=k,
            warmup_normalizers=False,  # one epoch collected, timed: the same loop, warm-up or not
            quiet=True,
            logger_kwargs=dict(output_dir=str(out_dir)),
        )
    if any(len(calls) != steps_per_env for calls in record.values()):
        counts = {part: len(calls) for part, calls in record.items()}
        raise RuntimeError(f"expected {steps_per_env} calls of each, ppo() made {counts}")
    # The window runs from the first store's start to the last one's: it holds the envs' and the
    # policy's calls of every step but the first, and every store but the last.
    window = record["buffer"][-1][0] - record["buffer"][0][0]
    env_steps = k * (steps_per_env - 1)
    us = {
        "envs": sum(seconds for _, seconds in record["envs"][1:]),
        "policy": sum(seconds for _, seconds in record["policy"][1:]),
        "buffer": sum(seconds for _, seconds in record["buffer"][:-1]),
    }
    us["rest"] = window - sum(us.values())
    us = {part: 1e6 * seconds / env_steps for part, seconds in us.items()}
    return env_steps / window, us, torch.get_num_threads()


def env_only_rate(
    k: int, steps_per_env: int, seed: int, env_id: str = ENV_ID, **env_kwargs
) -> float:
    """Env steps/s of k envs (gym.make(env_id, **env_kwargs)) stepped in turn with pre-drawn
    actions of the policy's starting std, resets included."""
    env_list = [gym.make(env_id, **env_kwargs) for _ in range(k)]
    for i, env in enumerate(env_list):
        env.reset(seed=seed + i)
    rng = np.random.default_rng(seed)
    act_space = env_list[0].action_space
    actions = rng.normal(0.0, INITIAL_STD, (steps_per_env, k, *act_space.shape))
    actions = np.clip(actions, act_space.low, act_space.high).astype(np.float32)
    start = time.perf_counter()
    for t in range(steps_per_env):
        for i, env in enumerate(env_list):
            _, _, terminated, truncated, _ = env.step(actions[t, i])
            if terminated or truncated:
                env.reset()
    elapsed = time.perf_counter() - start
    for env in env_list:
        env.close()
    return k * steps_per_env / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--steps", type=int, default=8000, help="env steps per measurement (all K envs together)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements per K")
    parser.add_argument(
        "--envs", type=int, nargs="+", default=[1, 4, 8, 16], help="values of K to measure"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for ppo() (default: what ppo() sets, one per rank)",
    )
    parser.add_argument("--env", default=ENV_ID, help="Gymnasium env id")
    parser.add_argument(
        "--env_kwargs",
        type=key_value,
        nargs="*",
        action="append",
        metavar="KEY=VALUE",
        help="keywords of gym.make, as ppo.py takes them; again for each further env setting",
    )
    add_out_argument(parser, "rollout_speed")
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads={args.threads} must be at least 1 (or left out).")
    if args.repeats < 1 or min(args.envs) < 1:
        raise ValueError(
            f"--repeats={args.repeats} and every --envs value ({args.envs}) must be at least 1."
        )
    if args.steps < 2 * max(args.envs):
        raise ValueError(
            f"--steps={args.steps} must be at least 2 x the largest K ({max(args.envs)}), so that "
            "every env takes two steps: the rollout is timed from the first step to the last."
        )
    settings = [dict(pairs) for pairs in args.env_kwargs or [[]]]

    rows, data, threads = [], [], None
    with tempfile.TemporaryDirectory(prefix="rollout_speed_") as tmp:
        for i, env_kwargs in enumerate(settings):
            for k in args.envs:
                steps_per_env = args.steps // k
                rollout_rates, env_rates, parts = [], [], []
                for r in range(args.repeats):
                    # Alternate which goes first, so that a drift of machine speed hits both alike.
                    for which in ("env", "rollout") if r % 2 == 0 else ("rollout", "env"):
                        if which == "env":
                            rate = env_only_rate(k, steps_per_env, r, args.env, **env_kwargs)
                            env_rates.append(rate)
                        else:
                            out_dir = Path(tmp) / f"s{i}_k{k}_r{r}"
                            rate, us, threads = rollout_rate(
                                k, steps_per_env, out_dir, r, args.threads, args.env, env_kwargs
                            )
                            rollout_rates.append(rate)
                            parts.append(us)
                rollout, env_only = statistics.median(rollout_rates), statistics.median(env_rates)
                us = {part: statistics.median(p[part] for p in parts) for part in parts[0]}
                setting = " ".join(f"{key}={value}" for key, value in env_kwargs.items())
                rows.append([
                    setting or "-", f"{k}{' (default)' if k == DEFAULT_K else ''}",
                    f"{rollout:.0f}", f"{env_only:.0f}", f"{rollout / env_only:.2f}",
                    f"{1e6 / env_only:.0f}; " + ", ".join(f"{us[part]:.0f}" for part in us),
                ])  # fmt: skip
                data.append(dict(env_kwargs=env_kwargs, k=k, rollout=rollout, env_only=env_only,
                                 us_per_step=us))  # fmt: skip

    report(
        args.out,
        title=f"PPO rollout speed per rank: {args.env}, ppo()'s default actor-critic, 1 process, "
        f"torch threads {threads}, median of {args.repeats}",
        columns=[
            "env_kwargs",
            "K envs",
            "rollout steps/s",
            "env-only steps/s",
            "ratio",
            "per env step (us): env-only; rollout's envs, policy, buffer, rest",
        ],
        rows=rows,
        notes="ratio = rollout / env-only: the share of a rank's collection time in the envs. "
        "A ratio of 0.8 leaves a quarter of env-only's time per step for all the rest. The "
        "buffer's time includes the first touches of its fresh memory, which training pays in "
        "its first epoch only.",
        data=dict(env=args.env, rows=data, default_k=DEFAULT_K, threads=threads),
    )


if __name__ == "__main__":
    main()
