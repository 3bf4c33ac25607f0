"""Start-up cost of ppo.py against a bare `python -c "import torch"`, measured in one run.

import torch:  `python -c "import torch"`, the floor any PyTorch trainer pays once per process.
--help:        `python ppo.py --help`: the launching process reads the flags from ppo.py's source
               and never imports torch.
overhead:      the wall-clock of `python ppo.py --env ArmReach-v0 --cpu 2 --epochs 1` minus the
               epoch's own Time in progress.txt: launching, mpirun, the ranks' imports, making the
               envs and the networks, writing the files.
The three alternate, `--repeats` times, so that machine noise hits them alike; the table shows
the medians and the ratios to the torch import (goals: overhead <= 2x, --help <= 1.2x).

    python bench/startup.py [--repeats 3] [--cpu 2]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
        cmd = [sys.executable, "ppo.py", "--env", "ArmReach-v0", "--cpu", str(cpu)]
        wall = wall_clock([*cmd, "--epochs", "1", "--data_dir", data_dir, "--quiet"])
        header, row = (
            (Path(data_dir) / "ppo" / "ppo_s0" / "progress.txt").read_text().split("\n")[:2]
        )
        epoch_time = float(row.split("\t")[header.split("\t").index("Time")])
    return wall - epoch_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each")
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks of the one-epoch run")
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
            "<= 2",
        ),
    ]
    print(f"Start-up, median of {args.repeats} alternating runs")
    print(f"| {'measurement':<44} | {'seconds':>7} | {'ratio to import torch':>21} | {'goal':>6} |")
    print(f"|{'-' * 46}|{'-' * 9}|{'-' * 23}|{'-' * 8}|")
    for name, seconds, goal in rows:
        print(f"| {name:<44} | {seconds:>7.2f} | {seconds / base:>21.2f} | {goal:>6} |")
    print(f"command: python bench/startup.py --repeats {args.repeats} --cpu {args.cpu}")


if __name__ == "__main__":
    main()
