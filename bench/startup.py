"""Start-up cost of ppo.py against a bare `python -c "import torch"`, measured in one run.

import torch:  `python -c "import torch"`, the floor any PyTorch trainer pays once per process.
--help:        `python ppo.py --help`: the launching process reads the flags from
               utils/arguments.py and never imports torch.
overhead:      the wall-clock of `python ppo.py --env ArmReach-v0 --cpu 2 --epochs 1` minus the
               epoch's own Time in progress.txt: launching, mpirun, the ranks' imports, making the
               envs and the networks, writing the files, the final policy's evaluation.
The three alternate, `--repeats` times, so that machine noise hits them alike; the table shows
the medians and the ratios to the torch import (goals: overhead <= 2.5x, --help <= 1.2x).

    python bench/startup.py [--repeats 3] [--cpu 2]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import REPO, add_out_argument, report, run_ppo  # noqa: E402


def wall_clock(cmd: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def training_overhead(cpu: int) -> float:
    """Wall-clock of a one-epoch run minus the epoch's logged Time."""
    with tempfile.TemporaryDirectory() as data_dir:
        start = time.perf_counter()
        _, progress = run_ppo("ArmReach-v0", 0, data_dir, cpu, epochs=1)
        wall = time.perf_counter() - start
    return wall - float(progress["Time"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each")
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks of the one-epoch run")
    add_out_argument(parser, "startup")
    args = parser.parse_args()

    torch_import, help_time, overhead = [], [], []
    for _ in range(args.repeats):
        torch_import.append(wall_clock([sys.executable, "-c", "import torch"]))
        help_time.append(wall_clock([sys.executable, "ppo.py", "--help"]))
        overhead.append(training_overhead(args.cpu))
    base = statistics.median(torch_import)
    rows = [
        ('python -c "import torch"', base, ""),
        ("python ppo.py --help", statistics.median(help_time), "<= 1.2"),
        (
            f"ppo.py --cpu {args.cpu} --epochs 1, wall minus epoch",
            statistics.median(overhead),
            "<= 2.5",
        ),
    ]
    report(
        args.out,
        title=f"Start-up, median of {args.repeats} alternating runs",
        columns=["measurement", "seconds", "ratio to import torch", "goal"],
        rows=[
            [name, f"{seconds:.2f}", f"{seconds / base:.2f}", goal] for name, seconds, goal in rows
        ],
        data=dict(torch_import=torch_import, help=help_time, overhead=overhead),
    )


if __name__ == "__main__":
    main()
