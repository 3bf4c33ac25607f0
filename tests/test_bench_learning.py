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


def test_throughput_bench_prints_each_training_setting_against_env_only_and_their_ratio():
    cmd = [sys.executable, "bench/throughput.py", "--epochs", "2", "--repeats", "1"]
    result = run([*cmd, "--settings", "", "--minibatches 4"])
    assert_ok(result)
    rows = re.findall(r"^\| (training, ppo.py [^|]*?|env-only[^|]*?) *\| *(\d+) \| *([0-9.]+) \|$",
                      result.stdout, re.M)  # fmt: skip
    assert [name for name, _, _ in rows] == [
        "env-only stepping, the same processes and envs",
        "training, ppo.py defaults (StepsPerSec)",
        "training, ppo.py --minibatches 4 (StepsPerSec)",
    ], result.stdout
    env_only = float(rows[0][1])
    for _, rate, ratio in rows[1:]:
        assert float(rate) > 0 and abs(float(ratio) - float(rate) / env_only) < 0.01
    assert "--settings '' '--minibatches 4'" in result.stdout  # the command reproduces it


def test_arms_bench_runs_the_readme_command_with_env_kwargs():
    result = run(
        [sys.executable, "bench/arms.py", "--arms", "xarm6", "--seeds", "0", "--epochs", "2"]
        + ["--cpu", "1"]
    )
    assert_ok(result)
    assert re.search(r"^\|\s*xarm6\s*\|", result.stdout, re.M), result.stdout
