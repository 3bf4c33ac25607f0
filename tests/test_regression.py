"""The refactor of ppo() changed nothing: short runs give the progress.txt recorded before it.

The files in tests/fixtures/progress_before_refactor/ were written by the code of commit b55ef95
(see the README.md there), whose update was Spinning Up's. Run with the flags that select that
update (SPINNING_UP, as docs/algorithm.md gives them), every column must match, but the
wall-clock ones: to the last digit until 2026-12-01; since then within float32 rounding
(relative 1e-4, absolute 1e-7 for the near-zero LossPi), because Adam's fused kernel, which
ppo() now uses for speed, rounds differently from the per-tensor loop that recorded them. A
change to the algorithm moves the numbers by far more.
"""

import sys
from pathlib import Path

import pytest

from tests.helpers import assert_ok, default_run_dir, run

pytestmark = pytest.mark.fast

FIXTURES = Path(__file__).parent / "fixtures" / "progress_before_refactor"
WALL_CLOCK = ("Time", "StepsPerSec", "EvalTime")
# Spinning Up's update: 80 full-batch steps per network, no clipping of the gradient, constant
# learning rates, its initial std and lambda (docs/algorithm.md, "Spinning Up's update").
SPINNING_UP = ["--minibatches", "1", "--train_pi_iters", "80", "--train_v_iters", "80"]
SPINNING_UP += ["--max_grad_norm", "0", "--no-anneal_lr", "--log_std_init", "-0.5", "--lam", "0.97"]
SPINNING_UP += ["--no-normalize_rew", "--adam_eps", "1e-8", "--no-lambda_returns"]
SPINNING_UP += ["--no-warmup_normalizers"]
SPINNING_UP += ["--pi_lr", "3e-4", "--vf_lr", "1e-3", "--target_kl", "0.01"]
ARM = ["--env", "ArmReach-v0", "--epochs", "3", "--steps", "2000", "--eval_freq", "2"]
ARM += ["--eval_episodes", "4", "--save_freq", "2"]
CASES = {
    "arm_reach_1rank": ARM,
    "arm_reach_2ranks": [*ARM, "--cpu", "2"],
    "cartpole_2ranks": ["--env", "CartPole-v1", "--epochs", "3", "--steps", "2000", "--cpu", "2"],
}


def read_columns(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    header, *rows = path.read_text().splitlines()
    columns = header.split("\t")
    return columns, [dict(zip(columns, row.split("\t"), strict=True)) for row in rows]


@pytest.mark.parametrize("case", CASES)
def test_progress_is_identical_to_the_one_recorded_before_the_refactor(case, tmp_path):
    args = ["ppo.py", *CASES[case], *SPINNING_UP, "--data_dir", str(tmp_path), "--quiet"]
    result = run([sys.executable, *args])
    assert_ok(result)
    columns, rows = read_columns(default_run_dir(tmp_path, CASES[case][1]) / "progress.txt")
    expected_columns, expected_rows = read_columns(FIXTURES / f"{case}.txt")
    assert columns == expected_columns
    assert len(rows) == len(expected_rows) == 3
    for row, expected in zip(rows, expected_rows, strict=True):
        for column in columns:
            if column not in WALL_CLOCK:
                value = pytest.approx(float(expected[column]), rel=1e-4, abs=1e-7, nan_ok=True)
                assert float(row[column]) == value, f"epoch {row['Epoch']}: {column}"
