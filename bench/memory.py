"""Memory over a long run: the resident set size (RSS) of every rank of one ppo.py run.

    python ppo.py --env ArmReach-v1 --cpu 2 --epochs E --quiet    (E: --steps env steps)

is started as is, and from outside it the bench reads each rank's VmRSS (/proc/PID/status)
whenever progress.txt shows a new epoch. Reported per rank: the RSS at the first epoch past
each of --marks env steps, and the growth from the second mark to the last, against --limit.
PyBullet has had leaks in reset (bullet3 issues 1660, 2277); ppo()'s buffers are allocated
once, so a rank's memory should stay flat once the first epochs have run.

    python bench/memory.py                                   # 1M steps, 2 ranks: ~5 minutes
    python bench/memory.py --steps 20000 --marks 4000 10000 20000   # smoke test
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import add_out_argument, epochs_for, report  # noqa: E402
from utils.logx import PROGRESS_FILE  # noqa: E402
from utils.mpi import environ_without_mpi  # noqa: E402
from utils.plot import read_progress  # noqa: E402
from utils.sweep import ppo_command  # noqa: E402


def rank_pids(data_dir: Path) -> dict[int, int]:
    """{rank: pid} of the ranks of the run writing into data_dir."""
    ranks = {}
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if str(data_dir).encode() not in cmdline or b"ppo.py" not in b" ".join(cmdline):
                continue
            environ = dict(
                item.split(b"=", 1)
                for item in (proc / "environ").read_bytes().split(b"\0")
                if b"=" in item
            )
        except OSError:  # gone, or not ours
            continue
        if b"PMI_RANK" in environ:
            ranks[int(environ[b"PMI_RANK"])] = int(proc.name)
    return ranks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no VmRSS for {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="ArmReach-v1")
    parser.add_argument("--cpu", type=int, default=2, help="MPI ranks")
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps of the run")
    parser.add_argument("--marks", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--limit", type=float, default=50.0, help="MB of growth allowed")
    add_out_argument(parser, "memory")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if len(args.marks) < 2:
        parser.error("--marks needs two or more env step counts: growth is from the second on")

    samples: dict[int, list[tuple[int, float]]] = {}  # rank: [(env steps, RSS MB)]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        setting = dict(epochs=epochs_for(args.steps), quiet=True)
        cmd = ppo_command(args.env, {}, "ppo", 0, data_dir, args.cpu, setting)
        job = subprocess.Popen(cmd, env=environ_without_mpi(), stdout=subprocess.DEVNULL)
        progress, seen = data_dir / "ppo" / "ppo_s0" / PROGRESS_FILE, 0
        start = time.time()
        while job.poll() is None:
            time.sleep(0.2)
            rows = read_progress(progress) if progress.exists() else {}
            steps = rows.get("TotalEnvInteracts", [])
            # The run's last row is written as the ranks exit: their RSS then is teardown.
            if len(steps) > seen and steps[-1] < args.steps:
                seen = len(steps)
                for rank, pid in rank_pids(data_dir).items():
                    try:
                        samples.setdefault(rank, []).append((int(steps[-1]), rss_mb(pid)))
                    except OSError:
                        pass  # the rank just ended
        if job.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited with {job.returncode}")
        wall = time.time() - start

    def at(rank: int, mark: int) -> float | None:
        """RSS at the first epoch that reached `mark`; at the run's end, its last epoch but one."""
        if mark >= args.steps:
            return samples[rank][-1][1]
        return next((mb for steps, mb in samples[rank] if steps >= mark), None)

    last = max(steps for rank_samples in samples.values() for steps, _ in rank_samples)
    rows = []
    for rank in sorted(samples):
        values = [at(rank, mark) for mark in args.marks]
        growth = None if None in values[1:] else values[-1] - values[1]
        rows.append([
            f"rank {rank}", *("-" if v is None else f"{v:.0f}" for v in values),
            "-" if growth is None else f"{growth:+.1f}",
            "-" if growth is None else ("yes" if growth < args.limit else "NO"),
        ])  # fmt: skip
    marks = [f"{m // 1000}k" if m < 1_000_000 else f"{m / 1e6:g}M" for m in args.marks]
    report(
        args.out,
        title=f"RSS per rank of `ppo.py --env {args.env} --cpu {args.cpu}` over "
        f"{args.steps} env steps ({wall:.0f} s)",
        columns=[
            "rank",
            *(f"RSS at {m} steps (MB)" for m in marks),
            f"growth {marks[1]} to {marks[-1]} (MB)",
            f"under {args.limit:g} MB",
        ],
        rows=rows,
        notes=f"The {marks[-1]} column is read one epoch before the end "
        f"({last} env steps): at the end the ranks are exiting.",
        data=dict(samples={str(r): s for r, s in samples.items()}, marks=args.marks),
    )


if __name__ == "__main__":
    main()
