"""End-to-end training throughput against stepping the envs alone, on the same cores, in one run.

training: `python ppo.py --env ENV --cpu N --epochs E` with ppo()'s defaults; its StepsPerSec
          column (env steps per second over all ranks, collection and update included), the
          median over the epochs after the first (which pays for warming up).
env-only: the same N processes under mpirun, each stepping its share of ppo()'s default number
          of envs (num_envs) in turn with pre-drawn Gaussian actions of the policy's starting
          std, resets included, no policy and no update: the sum of their steps/s.
The two alternate, `--repeats` times; the table shows medians and their ratio (goal >= 0.6).
`--settings` measures other training settings in the same run, e.g. fewer minibatch steps.

    python bench/throughput.py [--env ArmReach-v0] [--cpu 2] [--epochs 6] [--repeats 3]
                               [--settings "" "--minibatches 4"]
"""

import argparse
import inspect
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import ppo  # noqa: E402
from bench.common import add_out_argument, report, run_ppo  # noqa: E402
from bench.rollout_speed import env_only_rate  # noqa: E402
from utils.mpi import environ_without_mpi, find_mpirun, mpi_sum, proc_id  # noqa: E402

DEFAULTS = {k: p.default for k, p in inspect.signature(ppo.ppo).parameters.items()}


def training_rate(env_id: str, cpu: int, epochs: int, flags: str = "") -> float:
    """Median StepsPerSec of a training run, over the epochs after the first."""
    with tempfile.TemporaryDirectory() as data_dir:
        _, progress = run_ppo(env_id, 0, data_dir, cpu, extra=shlex.split(flags), epochs=epochs)
    return statistics.median(progress["StepsPerSec"][1:])


def env_only_total(env_id: str, cpu: int, steps: int, seed: int) -> float:
    env = dict(environ_without_mpi(), MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = [find_mpirun(), "-np", str(cpu), sys.executable, __file__, "--part", "env"]
    cmd += ["--env", env_id, "--steps", str(steps), "--seed", str(seed)]
    result = subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="ArmReach-v0", help="Gymnasium env id")
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks (processes) of both")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of each training run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each")
    parser.add_argument("--steps", type=int, default=8000, help="env-only steps per process")
    parser.add_argument(
        "--settings",
        nargs="+",
        default=[""],
        help='training settings to measure, each a quoted string of ppo.py flags ("": defaults)',
    )
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=["env"], help=argparse.SUPPRESS)
    add_out_argument(parser, "throughput")
    args = parser.parse_args()

    k = DEFAULTS["num_envs"] // args.cpu
    if args.part == "env":  # one of the env-only processes, under mpirun
        import envs  # noqa: F401  (registers ArmReach)

        rate = env_only_rate(k, args.steps // k, seed=args.seed + 1000 * proc_id(), env_id=args.env)
        total = mpi_sum(rate)
        if proc_id() == 0:
            print(json.dumps(dict(steps_per_s=float(total))), flush=True)
        return

    training = {flags: [] for flags in args.settings}
    env_only = []
    for r in range(args.repeats):
        for flags in args.settings:
            training[flags].append(training_rate(args.env, args.cpu, args.epochs, flags))
        env_only.append(env_only_total(args.env, args.cpu, args.steps, seed=r))
    alone = statistics.median(env_only)
    rows = [["env-only stepping, the same processes and envs", f"{alone:.0f}", "1.00"]]
    for flags, rates in training.items():
        rate = statistics.median(rates)
        name = f"training, ppo.py {flags or 'defaults'}"
        rows.append([name, f"{rate:.0f}", f"{rate / alone:.2f}"])
    report(
        args.out,
        title=f"Throughput on {args.env}, {args.cpu} processes, {k} envs each, median of "
        f"{args.repeats}",
        columns=["measurement", "env steps/s", "ratio to env-only"],
        rows=rows,
        notes="training: progress.txt's StepsPerSec (collection and update), after epoch 0",
        data=dict(env_only=env_only, training=training),
    )


if __name__ == "__main__":
    main()
