"""Smoke tests of the learning and throughput benches: tiny budgets, real runs, their tables."""

import re
import sys

from tests.helpers import assert_ok, run


def test_suite_bench_prints_a_row_per_env_with_the_published_figure_and_its_command():
    result = run(
        [sys.executable, "bench/suite.py", "--envs", "ArmReach-v0", "Hopper-v5", "--seeds", "0"]
        + ["--steps", "8000", "--cpu", "1"]
    )
    assert_ok(result)
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    rows = {line.split("|")[1].strip(): line for line in table}
    arm = [cell.strip() for cell in rows["ArmReach-v0"].split("|")[1:-1]]
    assert arm[1] == "8000" and re.fullmatch(r"-?\d+\.\d\d \+- \d+\.\d\d", arm[2])
    assert 0 <= float(arm[3]) <= 1 and float(arm[4]) > 0 and arm[6] == "n/a"
    hopper = [cell.strip() for cell in rows["Hopper-v5"].split("|")[1:-1]]
    assert hopper[3] == "n/a" and hopper[6] == "2383 +- 272 (v4)"  # no is_success; CleanRL's
    assert "python bench/suite.py --envs ArmReach-v0 Hopper-v5 --seeds 0 --cpu 1 --steps 8000" in (
        result.stdout
    )


def test_throughput_bench_prints_training_against_env_only_and_their_ratio():
    result = run([sys.executable, "bench/throughput.py", "--epochs", "2", "--repeats", "1"])
    assert_ok(result)
    rates = re.findall(r"^\| (training|env-only|ratio)[^|]*\|\s*([0-9.]+) \|$", result.stdout, re.M)
    assert [name for name, _ in rates] == ["training", "env-only", "ratio"]
    training, env_only, ratio = (float(value) for _, value in rates)
    assert training > 0 and env_only > 0 and abs(ratio - training / env_only) < 0.01


def test_arms_bench_runs_the_readme_command_with_env_kwargs():
    result = run(
        [sys.executable, "bench/arms.py", "--arms", "xarm6", "--seeds", "0", "--epochs", "2"]
        + ["--cpu", "1"]
    )
    assert_ok(result)
    assert re.search(r"^\|\s*xarm6\s*\|", result.stdout, re.M), result.stdout
