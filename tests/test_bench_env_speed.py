"""Smoke test: bench/env_speed.py runs with few steps and prints a positive env/raw ratio."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_env_speed_bench_prints_a_positive_ratio_and_its_command():
    cmd = [sys.executable, "bench/env_speed.py", "--steps", "500", "--repeats", "1"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    ratio = re.search(r"^\| ratio env/raw.*?\|\s*([0-9.]+)\s*\|", result.stdout, re.MULTILINE)
    assert ratio is not None, result.stdout
    assert float(ratio.group(1)) > 0
    assert "python bench/env_speed.py --steps 500 --repeats 1" in result.stdout
