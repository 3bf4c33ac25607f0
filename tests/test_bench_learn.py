"""Smoke test of bench/learn.py: both trainers run, the table it prints is complete, and it
leaves nothing behind."""

import re
import sys
import tempfile
from pathlib import Path

from tests.helpers import assert_ok, run


def test_learn_bench_prints_a_row_per_configuration_and_its_command():
    args = ["--seeds", "0", "--steps", "4000", "--eval_every", "4000", "--episodes", "2"]
    sb3_logs = set(Path(tempfile.gettempdir()).glob("SB3-*"))  # Stable-Baselines3's default
    result = run([sys.executable, "bench/learn.py", *args], timeout=300)
    assert_ok(result)
    assert set(Path(tempfile.gettempdir()).glob("SB3-*")) == sb3_logs, "SB3 log folders left"
    for name in ("ours", "sb3", "sb3+VecNormalize"):
        row = re.search(
            rf"^\| {re.escape(name)} \| (\d)/1 \|.*\| ([\d.]+) \| ([\d.]+) \|", result.stdout, re.M
        )
        assert row, f"no row for {name}:\n{result.stdout}"
        assert 0 <= float(row[2]) <= 1 and float(row[3]) > 0  # final success, train time
    assert "command: python bench/learn.py " + " ".join(args) in result.stdout
