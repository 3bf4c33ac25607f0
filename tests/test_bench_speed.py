"""Smoke tests: bench/rollout_speed.py and bench/mpi_speed.py run with a tiny budget and print a
table with a positive ratio in every row, and the command that reproduces it."""

import inspect
import re
import sys

import ppo
from tests.helpers import assert_ok, run

DEFAULT_K = inspect.signature(ppo.ppo).parameters["envs_per_proc"].default
NUMBER = r"\s*([0-9]+(?:\.[0-9]+)?)\s*"


def test_rollout_speed_bench_prints_positive_ratios_for_every_k_and_its_command():
    ks = sorted({1, DEFAULT_K})
    args = ["--steps", str(8 * max(ks)), "--repeats", "1", "--envs", *map(str, ks)]
    result = run([sys.executable, "bench/rollout_speed.py", *args], timeout=120)
    assert_ok(result)
    rows = re.findall(
        rf"^\|\s*(\d+)\s*(\*?)\s*\|{NUMBER}\|{NUMBER}\|{NUMBER}\|$", result.stdout, re.MULTILINE
    )
    assert [int(k) for k, *_ in rows] == ks, result.stdout
    for _, _, rollout, env_only, ratio in rows:
        assert float(rollout) > 0 and float(env_only) > 0 and float(ratio) > 0, result.stdout
    assert [int(k) for k, mark, *_ in rows if mark == "*"] == [DEFAULT_K], result.stdout
    assert f"command: python bench/rollout_speed.py {' '.join(args)}\n" in result.stdout


def test_mpi_speed_bench_prints_positive_speed_ups_for_allreduce_and_training_and_its_command():
    # One torch thread per rank keeps the 1-rank run quick on a busy 2-core machine.
    args = ["--calls", "50", "--steps", str(2 * DEFAULT_K), "--epochs", "1", "--repeats", "1"]
    args += ["--threads", "1"]
    result = run([sys.executable, "bench/mpi_speed.py", *args], timeout=120)
    assert_ok(result)
    rows = re.findall(
        rf"^\| ((?:grad Allreduce|ppo\(\)).*?)\s*\|[^|]+\|{NUMBER}\|{NUMBER}\|{NUMBER}\|$",
        result.stdout,
        re.MULTILINE,
    )
    assert [name.split(",")[0] for name, *_ in rows] == [
        "grad Allreduce",
        "grad Allreduce",
        "ppo() ArmReach-v0",
    ], result.stdout
    for _, new, baseline, speed_up in rows:
        assert float(new) > 0 and float(baseline) > 0 and float(speed_up) > 0, result.stdout
    assert f"command: python bench/mpi_speed.py {' '.join(args)}\n" in result.stdout
