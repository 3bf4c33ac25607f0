"""Shared helpers: run a command under real mpirun, with a timeout so that a hang fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from utils.mpi import find_mpirun

REPO = Path(__file__).resolve().parent.parent


def run(cmd: list[str], timeout: float = 240, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run cmd from the repository root; fail the test (not hang it) after `timeout` seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    try:
        return subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not finish in {timeout} s:\n{e.stdout}\n{e.stderr}")


def run_mpi(n: int, args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    """`mpirun -np n python args...` with the MPICH installed beside this interpreter."""
    return run([find_mpirun(), "-np", str(n), sys.executable, *args], timeout=timeout)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
