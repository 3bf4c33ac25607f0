"""Shared helpers: run a command under real mpirun, with a timeout so that a hang fails."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from utils.logx import default_exp_name, setup_logger_kwargs
from utils.mpi import environ_without_mpi, find_mpirun

REPO = Path(__file__).resolve().parent.parent


def default_run_dir(
    data_dir: Path, env_id: str = "ArmReach-v0", seed: int = 0, **env_kwargs
) -> Path:
    """Where a run of ppo.py (or ppo.ppo()) without --exp_name goes: data_dir/NAME/NAME_s<seed>."""
    name = default_exp_name(env_id, env_kwargs)
    return Path(setup_logger_kwargs(name, seed, str(data_dir))["output_dir"])


def run(cmd: list[str], timeout: float = 240, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run cmd from the repository root; fail the test (not hang it) after `timeout` seconds."""
    try:
        return subprocess.run(
            cmd, cwd=cwd, env=environ_without_mpi(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not finish in {timeout} s:\n{e.stdout}\n{e.stderr}")


def run_mpi(n: int, args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    """`mpirun -np n python args...` with the MPICH installed beside this interpreter."""
    return run([find_mpirun(), "-np", str(n), sys.executable, *args], timeout=timeout)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def run_bench(bench: str, args: list[str], out_dir: Path, timeout: float = 240) -> dict:
    """Run bench/<bench>.py with args, writing its result file into out_dir (never into
    bench/results); the result file, after checking it holds the command that made it."""
    out = out_dir / f"{bench}.json"
    result = run([sys.executable, f"bench/{bench}.py", *args, "--out", str(out)], timeout=timeout)
    assert_ok(result)
    written = json.loads(out.read_text())
    command = shlex.join(["python", f"bench/{bench}.py", *args, "--out", str(out)])
    assert written["command"] == command and f"command: {command}\n" in result.stdout
    for key in ("commit", "date", "machine"):
        assert written[key], f"{key} missing from {out}"
    assert all(len(row) == len(written["columns"]) for row in written["rows"]), written
    return written
