"""One rank of the multi-host test: say where it runs, train with ppo.main, report the weights.

`mpirun ... python -m tests.multihost_rank REPORT_DIR PPO_ARGS...` writes REPORT_DIR/rankN.json
twice: before training (rank, pid, network namespace, addresses), so that a test can find and
kill the rank on one host, and after it with a checksum of the trained parameters, so that a test
can compare the ranks' weights without trusting MPI to report on itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import ppo
from utils.mpi import proc_id


def where_am_i() -> dict:
    """This process's network namespace (kernel id and `ip netns` name) and IPv4 addresses."""
    addresses = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    netns_name = subprocess.run(
        ["ip", "netns", "identify", str(os.getpid())], capture_output=True, text=True
    ).stdout.strip()
    return dict(
        rank=proc_id(),
        pid=os.getpid(),
        netns=os.readlink("/proc/self/ns/net"),
        netns_name=netns_name,
        addresses=[line.split()[3].split("/")[0] for line in addresses.splitlines()],
    )


def write_report(report_dir: Path, report: dict) -> None:
    path = report_dir / f"rank{report['rank']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report))
    tmp.replace(path)  # a reader never sees half a file


def main(argv: list[str]) -> None:
    report_dir, ppo_args = Path(argv[0]), argv[1:]
    report = where_am_i()
    write_report(report_dir, report)
    ac = ppo.main(ppo_args)
    flat = torch.cat([p.detach().reshape(-1) for p in ac.parameters()]).numpy()
    report.update(params_sha256=hashlib.sha256(flat.tobytes()).hexdigest(), n_params=flat.size)
    write_report(report_dir, report)


if __name__ == "__main__":
    main(sys.argv[1:])
