"""utils.sweep: real ppo.py runs for every combination, named by setting, skipped when finished."""

import sys
import time

import pytest

from tests.helpers import assert_ok, run
from utils.plot import group_runs, load_runs, plot_runs, read_progress
from utils.sweep import format_value, sweep

# Two epochs of 400 steps with a few gradient steps: a few seconds per run. Four envs per run
# finish two 50-step episodes each per epoch, so every epoch logs a return and a success rate.
TINY = dict(epochs=2, steps_per_epoch=400, num_envs=4, train_pi_iters=5, train_v_iters=5)
TINY_FLAGS = [
    *("--epochs", "2", "--steps", "400", "--num_envs", "4"),
    *("--train_pi_iters", "5", "--train_v_iters", "5"),
]


def sweep_command(data_dir, *args):
    return [
        *(sys.executable, "-m", "utils.sweep", "--env", "ArmReach-v0"),
        *("--data_dir", str(data_dir), *TINY_FLAGS, *args),
    ]


def summary_rows(stdout: str) -> dict[str, str]:
    """The summary table's rows after the `setting ...` header, by setting name."""
    lines = stdout.split("Sweep summary", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("setting"))
    rows = [line for line in lines[start + 1 :] if line and not line.startswith("FAILED")]
    return {row.split()[0]: row for row in rows}


def test_sweep_runs_every_setting_and_seed_skips_finished_runs_and_plot_groups_by_setting(
    tmp_path,
):
    result = run(
        sweep_command(tmp_path, "--name", "lr", "--seeds", "0", "1", "--pi_lr", "3e-4", "1e-3")
    )
    assert_ok(result)
    sweep_dir = tmp_path / "lr"
    run_dirs = sorted(str(p.relative_to(sweep_dir)) for p in sweep_dir.glob("*/*") if p.is_dir())
    assert run_dirs == [
        "lr_pi_lr1e-3/lr_pi_lr1e-3_s0",
        "lr_pi_lr1e-3/lr_pi_lr1e-3_s1",
        "lr_pi_lr3e-4/lr_pi_lr3e-4_s0",
        "lr_pi_lr3e-4/lr_pi_lr3e-4_s1",
    ]
    for run_dir in run_dirs:
        assert list(read_progress(sweep_dir / run_dir / "progress.txt")["Epoch"]) == [0, 1]
    rows = summary_rows(result.stdout)
    assert list(rows) == ["lr_pi_lr3e-4", "lr_pi_lr1e-3"]
    assert all(" 2/2 " in row and "±" in row for row in rows.values()), result.stdout

    # Again, from the notebook function: the same names, nothing trained again.
    start = time.time()
    results = sweep("ArmReach-v0", [0, 1], name="lr", data_dir=tmp_path, pi_lr=[3e-4, 1e-3], **TINY)
    assert time.time() - start < 20
    assert [(r["name"], r["seed"], r["status"]) for r in results] == [
        ("lr_pi_lr3e-4", 0, "skipped"),
        ("lr_pi_lr3e-4", 1, "skipped"),
        ("lr_pi_lr1e-3", 0, "skipped"),
        ("lr_pi_lr1e-3", 1, "skipped"),
    ]
    assert all(r["Epoch"] == 1 and 0 <= r["SuccessRate"] <= 1 for r in results)

    groups = group_runs(load_runs([sweep_dir]))
    assert {name: len(runs) for name, runs in groups.items()} == {
        "lr_pi_lr1e-3 on ArmReach-v0": 2,
        "lr_pi_lr3e-4 on ArmReach-v0": 2,
    }
    fig = plot_runs([sweep_dir], out=None)
    labels = sorted(text.get_text() for text in fig.axes[0].get_legend().get_texts())
    assert labels == [
        "lr_pi_lr1e-3 on ArmReach-v0 (2 seeds)",
        "lr_pi_lr3e-4 on ArmReach-v0 (2 seeds)",
    ]

    # Another fixed value under the same name would mix foreign runs into the settings.
    results = sweep("ArmReach-v0", [0], "lr", tmp_path, pi_lr=[3e-4, 1e-3], **dict(TINY, lam=0.9))
    assert [r["status"] for r in results] == ["failed", "failed"]
    assert "was run with lam=0.95, not 0.9" in results[0]["error"]

    # More epochs: the seed-0 runs continue from their checkpoints instead of starting over.
    results = sweep("ArmReach-v0", [0], "lr", tmp_path, pi_lr=[3e-4, 1e-3], **dict(TINY, epochs=3))
    assert [r["status"] for r in results] == ["resumed", "resumed"]
    for r in results:
        assert list(read_progress(r["run_dir"] / "progress.txt")["Epoch"]) == [0, 1, 2]


def test_failing_run_is_reported_with_its_error_and_the_sweep_goes_on_and_exits_non_zero(
    tmp_path,
):
    result = run(sweep_command(tmp_path, "--name", "g", "--gamma", "5", "0.99"))
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "g_gamma5_s0" in failed[0], result.stdout
    assert "gamma=5.0 must be in (0, 1]" in failed[0]
    assert (tmp_path / "g" / "g_gamma0.99" / "g_gamma0.99_s0" / "checkpoint.pt").exists()
    rows = summary_rows(result.stdout)
    assert " 0/1 " in rows["g_gamma5"] and " 1/1 " in rows["g_gamma0.99"]


def test_unknown_argument_is_rejected_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="pi_lrr: not a flag a sweep can vary; choose from"):
        sweep("ArmReach-v0", [0], data_dir=tmp_path, pi_lrr=[1e-3, 3e-4])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "value, text",
    [(3e-4, "3e-4"), (1e-3, "1e-3"), (0.99, "0.99"), (0.2, "0.2"), (5.0, "5"), (8000, "8000")],
)
def test_run_names_write_values_in_their_shortest_form(value, text):
    assert format_value(value) == text
