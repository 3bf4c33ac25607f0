"""MPI speed: the fused gradient Allreduce against one per parameter; ppo() on 1 against 2 ranks.

Allreduce: 2 ranks (``mpirun -np 2``) hold the gradients of the default MLPActorCritic for
ArmReach-v0 (obs 23, act 7, hidden (64, 64), tanh), filled by one backward pass. For ``ac.pi``
and ``ac.v`` separately, as ppo() averages them after each backward pass, the bench calls
``utils.mpi.mpi_avg_grads`` (ONE Allreduce on a flat buffer) and
``utils.mpi.mpi_avg_grads_per_parameter`` (one Allreduce per parameter tensor) in turn, ``--calls``
times each, after a warm-up; a Barrier precedes every call so that both ranks enter it together,
and rank 0 times the call alone. The table shows the median microseconds per call; speed-up =
per-parameter / fused.
Training: the real ``ppo.ppo`` on ArmReach-v0, ``--epochs`` epochs of ``--steps`` env steps (the
total over ranks), every other argument at ppo()'s default, quiet, logging to a temporary
directory, launched with ``mpirun -np 1`` and ``mpirun -np 2`` alike (the environment of
``python ppo.py --cpu N``: one OpenMP/MKL thread per process; torch threads as ppo() sets them,
one per rank, unless ``--threads N``). The clock on rank 0 runs from a Barrier before the
``ppo()`` call to one after it: interpreter start and imports are left out, building the envs,
updates and checkpoints are in. env steps/s = epochs x steps / seconds; the runs alternate
(1 rank first in even repeats, 2 ranks first in odd ones) and the table shows the medians over
``--repeats``; speed-up = 2-rank / 1-rank steps/s (2 is the most 2 cores can give).

Run as ``python bench/mpi_speed.py``: it launches itself with ``--part allreduce`` or
``--part train`` under the venv's mpirun (``utils.mpi.find_mpirun``) and reads the JSON that rank 0
prints on its last line of output.

    python bench/mpi_speed.py [--calls 2000] [--steps 8000] [--epochs 3] [--repeats 3]
"""

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch
from mpi4py import MPI

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import core  # noqa: E402
import envs  # noqa: E402, F401  (registers ArmReach-v0)
import ppo  # noqa: E402
from bench.common import add_out_argument, report  # noqa: E402
from bench.rollout_speed import torch_threads_in_ppo  # noqa: E402
from utils.mpi import (  # noqa: E402
    environ_without_mpi,
    find_mpirun,
    launched_by_mpirun,
    mpi_avg_grads,
    mpi_avg_grads_per_parameter,
    num_procs,
    proc_id,
)

ENV_ID = "ArmReach-v0"
WARMUP_CALLS = 100
NUM_ENVS = inspect.signature(ppo.ppo).parameters["num_envs"].default


def time_allreduce(calls: int) -> dict:
    """Median us per call of the fused and the per-parameter gradient average, for pi and v."""
    ppo.setup_pytorch_for_mpi()
    env = gym.make(ENV_ID)
    torch.manual_seed(proc_id())  # different gradients on each rank, as in training
    ac = core.MLPActorCritic(env.observation_space, env.action_space, hidden_sizes=(64, 64))
    obs = torch.randn(256, env.observation_space.shape[0])
    act = torch.randn(256, env.action_space.shape[0])
    (ac.pi(obs, act)[1].mean() + ac.v(obs).mean()).backward()
    env.close()

    variants = {"fused": mpi_avg_grads, "per_parameter": mpi_avg_grads_per_parameter}
    results = {}
    for name, module in (("pi", ac.pi), ("v", ac.v)):
        times: dict[str, list[float]] = {v: [] for v in variants}
        for i in range(WARMUP_CALLS + calls):
            # Alternate which goes first, so that a drift of machine speed hits both alike.
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for variant in order:
                MPI.COMM_WORLD.Barrier()
                start = time.perf_counter()
                variants[variant](module)
                elapsed = time.perf_counter() - start
                if i >= WARMUP_CALLS:
                    times[variant].append(elapsed)
        results[name] = dict(
            tensors=sum(1 for p in module.parameters() if p.grad is not None),
            params=core.count_vars(module),
            **{f"{v}_us": 1e6 * statistics.median(t) for v, t in times.items()},
        )
    return results


def time_training(steps: int, epochs: int, out_dir: str, threads: int | None) -> dict:
    """Env steps/s of one ppo() run on ArmReach-v0, timed on rank 0 between two Barriers."""
    with torch_threads_in_ppo(threads):
        MPI.COMM_WORLD.Barrier()
        start = time.perf_counter()
        ppo.ppo(
            lambda: gym.make(ENV_ID),
            steps_per_epoch=steps,
            epochs=epochs,
            quiet=True,
            logger_kwargs=dict(output_dir=out_dir),
        )
        MPI.COMM_WORLD.Barrier()
        seconds = time.perf_counter() - start
    return dict(
        ranks=num_procs(),
        seconds=seconds,
        steps_per_s=steps * epochs / seconds,
        torch_threads=torch.get_num_threads(),
    )


def launch(ranks: int, part_args: list[str]) -> dict:
    """Run this script under `mpirun -np ranks` and return the JSON of rank 0's last line."""
    # What `python ppo.py --cpu N` gives its ranks (utils.mpi.mpi_fork), for 1 rank as for 2.
    env = dict(environ_without_mpi(), MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = [find_mpirun(), "-np", str(ranks), sys.executable, __file__, *part_args]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed with exit {result.returncode}:\n{result.stdout}\n"
            f"{result.stderr}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="Allreduce calls per variant")
    parser.add_argument("--steps", type=int, default=8000, help="ppo() steps_per_epoch")
    parser.add_argument("--epochs", type=int, default=3, help="ppo() epochs per training run")
    parser.add_argument("--repeats", type=int, default=3, help="training runs per rank count")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for ppo() (default: what ppo() sets, one per rank)",
    )
    parser.add_argument("--part", choices=("allreduce", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--run_dir", help=argparse.SUPPRESS)
    add_out_argument(parser, "mpi_speed")
    args = parser.parse_args()

    if args.part == "allreduce":
        result = time_allreduce(args.calls)
    elif args.part == "train":
        result = time_training(args.steps, args.epochs, args.run_dir, args.threads)
    if args.part is not None:
        if proc_id() == 0:
            print(json.dumps(result), flush=True)
        return

    if launched_by_mpirun():
        raise ValueError(
            "bench/mpi_speed.py launches its own MPI jobs (1 and 2 ranks); run it without mpirun."
        )
    for name in ("calls", "steps", "epochs", "repeats"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}={getattr(args, name)} must be at least 1.")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads={args.threads} must be at least 1 (or left out).")
    if args.steps % NUM_ENVS != 0:
        raise ValueError(
            f"--steps={args.steps} must be a multiple of ppo()'s default num_envs "
            f"({NUM_ENVS}), so that both runs collect the same steps."
        )

    allreduce = launch(2, ["--part", "allreduce", "--calls", str(args.calls)])
    rates: dict[int, list[float]] = {1: [], 2: []}
    threads: dict[int, int] = {}
    train_args = ["--part", "train", "--steps", str(args.steps), "--epochs", str(args.epochs)]
    if args.threads is not None:
        train_args += ["--threads", str(args.threads)]
    with tempfile.TemporaryDirectory(prefix="mpi_speed_") as tmp:
        for r in range(args.repeats):
            for ranks in (1, 2) if r % 2 == 0 else (2, 1):
                out = ["--run_dir", str(Path(tmp) / f"np{ranks}_r{r}")]
                run = launch(ranks, train_args + out)
                rates[ranks].append(run["steps_per_s"])
                threads[ranks] = run["torch_threads"]
    rate = {ranks: statistics.median(r) for ranks, r in rates.items()}

    rows = []
    for name in ("pi", "v"):
        a = allreduce[name]
        rows.append([
            f"grad Allreduce, ac.{name} ({a['tensors']} tensors, {a['params']} params)",
            "us/call", f"{a['fused_us']:.1f}", f"{a['per_parameter_us']:.1f}",
            f"{a['per_parameter_us'] / a['fused_us']:.2f}",
        ])  # fmt: skip
    rows.append([
        f"ppo() {ENV_ID}, {args.epochs} x {args.steps} steps, num_envs={NUM_ENVS}",
        "env steps/s", f"{rate[2]:.1f}", f"{rate[1]:.1f}", f"{rate[2] / rate[1]:.2f}",
    ])  # fmt: skip
    report(
        args.out,
        title=f"MPI speed on {len(os.sched_getaffinity(0))} cores, MPICH; Allreduce: 2 ranks, "
        f"median of {args.calls} calls each; training: median of {args.repeats} runs each",
        columns=["measurement", "unit", "fused / 2 ranks", "per parameter / 1 rank", "speed-up"],
        rows=rows,
        notes=f"torch threads per rank: {threads[1]} with 1 rank, {threads[2]} with 2",
        data=dict(allreduce=allreduce, steps_per_s=rate),
    )


if __name__ == "__main__":
    main()
