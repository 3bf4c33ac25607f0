"""Smoke tests of every bench: tiny budgets, real runs; each writes its result file (command,
commit, date, machine, table, data) where --out says, and the table holds what the data says."""

import inspect
import tempfile
from pathlib import Path

import pytest

import ppo
from tests.helpers import run_bench

DEFAULT_K = inspect.signature(ppo.ppo).parameters["num_envs"].default // 2


def numbers(rows, column):
    return [float(row[column].split()[0]) for row in rows]


def test_env_speed_bench_writes_env_to_raw_and_pixels_to_state_ratios(tmp_path):
    args = ["--steps", "500", "--repeats", "1", "--pixel_steps", "100"]
    result = run_bench("env_speed", args, tmp_path)
    env_rate, raw_rate = result["data"]["env_steps_per_s"], result["data"]["raw_steps_per_s"]
    assert env_rate > 0 and raw_rate > 0
    rows = {row[0]: row[1] for row in result["rows"]}
    assert rows["ratio env / raw"] == f"{env_rate / raw_rate:.2f}"
    for robot, rates in result["data"]["pixels"].items():
        ratio = rates["pixel_steps_per_s"] / rates["state_steps_per_s"]
        assert rows[f"ratio pixels / state, {robot} (goal >= 0.10)"] == f"{ratio:.2f}"
    assert len(result["data"]["pixels"]) == 3


def test_rollout_speed_bench_writes_a_row_per_setting_and_k_and_splits_the_rollout(tmp_path):
    ks = sorted({1, DEFAULT_K})
    args = ["--steps", str(8 * max(ks)), "--repeats", "1", "--envs", *map(str, ks),
            "--env_kwargs", "--env_kwargs", "max_episode_steps=5"]  # fmt: skip
    result = run_bench("rollout_speed", args, tmp_path, timeout=180)
    labels = [f"{k}{' (default)' if k == DEFAULT_K else ''}" for k in ks]
    assert [row[:2] for row in result["rows"]] == [
        [setting, label] for setting in ("-", "max_episode_steps=5") for label in labels
    ]
    for row, measured in zip(result["rows"], result["data"]["rows"], strict=True):
        rollout, env_only, ratio = map(float, row[2:5])
        assert rollout > 0 and env_only > 0 and abs(ratio - rollout / env_only) < 0.01
        us = measured["us_per_step"]  # the window's time, split: the parts add up to it
        assert min(us["envs"], us["policy"], us["buffer"]) > 0
        assert sum(us.values()) == pytest.approx(1e6 / measured["rollout"], rel=1e-6)


def test_mpi_speed_bench_writes_allreduce_and_training_speed_ups(tmp_path):
    # One torch thread per rank keeps the 1-rank run quick on a busy 2-core machine.
    args = ["--calls", "50", "--steps", str(2 * DEFAULT_K), "--epochs", "1", "--repeats", "1"]
    result = run_bench("mpi_speed", [*args, "--threads", "1"], tmp_path, timeout=120)
    assert [row[0].split(",")[0] for row in result["rows"]] == [
        "grad Allreduce", "grad Allreduce", "ppo() ArmReach-v0"
    ]  # fmt: skip
    for new, baseline, speed_up in zip(
        *(numbers(result["rows"], c) for c in (2, 3, 4)), strict=True
    ):
        assert new > 0 and baseline > 0 and speed_up > 0


def test_deploy_latency_bench_writes_onnx_torch_and_torchscript_rows_per_mode(tmp_path):
    args = ["--calls", "200", "--episodes", "1", "--threads", "1"]
    result = run_bench("deploy_latency", args, tmp_path, timeout=120)
    names = [(row[0].split()[0].rstrip(","), row[0].split(", ")[-1]) for row in result["rows"]]
    assert names == [
        (policy, mode)
        for mode in ("back-to-back", "25 Hz loop")
        for policy in ("ONNX", "torch", "TorchScript")
    ]
    for p50, p99 in zip(numbers(result["rows"], 1), numbers(result["rows"], 2), strict=True):
        assert 0 < p50 <= p99
    assert result["rows"][0][3:] == result["rows"][3][3:] == ["1.00", "1.00"]  # ONNX: reference


def test_startup_bench_writes_each_measurement_against_import_torch(tmp_path):
    result = run_bench("startup", ["--repeats", "1", "--cpu", "1"], tmp_path, timeout=180)
    names = [row[0] for row in result["rows"]]
    assert names[:2] == ['python -c "import torch"', "python ppo.py --help"]
    seconds = numbers(result["rows"], 1)
    assert all(s > 0 for s in seconds) and numbers(result["rows"], 2)[0] == 1.0


def test_throughput_bench_writes_each_training_setting_against_env_only(tmp_path):
    args = ["--epochs", "2", "--repeats", "1", "--settings", "", "--minibatches 4"]
    result = run_bench("throughput", args, tmp_path)
    assert [row[0] for row in result["rows"]] == [
        "env-only stepping, the same processes and envs",
        "training, ppo.py defaults",
        "training, ppo.py --minibatches 4",
    ]
    env_only = numbers(result["rows"], 1)[0]
    for rate, ratio in zip(
        numbers(result["rows"], 1)[1:], numbers(result["rows"], 2)[1:], strict=True
    ):
        assert rate > 0 and abs(ratio - rate / env_only) < 0.01


def test_learn_bench_writes_a_row_per_trainer_and_leaves_no_sb3_logs(tmp_path):
    args = ["--seeds", "0", "--steps", "4000", "--eval_every", "2000", "--episodes", "2"]
    args += ["--final_episodes", "2"]
    sb3_logs = set(Path(tempfile.gettempdir()).glob("SB3-*"))  # Stable-Baselines3's default
    result = run_bench("learn", args, tmp_path, timeout=300)
    assert set(Path(tempfile.gettempdir()).glob("SB3-*")) == sb3_logs, "SB3 log folders left"
    assert [row[0] for row in result["rows"]] == ["ours", "sb3", "sb3+VecNormalize"]
    for name, runs in result["data"]["runs"].items():
        (run,) = runs
        assert [steps for steps, _, _ in run["evals"]][-1] == 4000, (name, run)
        assert 0 <= run["final"] <= 1 and run["train_seconds"] > 0
        assert result["rows"][list(result["data"]["runs"]).index(name)][1] == f"{run['final']:.2f}"


def test_suite_bench_writes_success_only_where_the_env_reports_it(tmp_path):
    args = ["--envs", "ArmReach-v0", "Hopper-v5", "--seeds", "0", "--steps", "8000", "--cpu", "1"]
    result = run_bench("suite", args, tmp_path)
    rows = {row[0]: row for row in result["rows"]}
    assert rows["ArmReach-v0"][1] == "8000" and 0 <= float(rows["ArmReach-v0"][3]) <= 1
    assert rows["Hopper-v5"][3] == "n/a" and rows["Hopper-v5"][6] == "2383 +- 272 (v4)"


def test_arms_bench_passes_env_kwargs_and_writes_the_final_policy(tmp_path):
    args = ["--arms", "xarm6", "--seeds", "0", "--steps", "6000", "--cpu", "1"]
    result = run_bench("arms", [*args, "--env_kwargs", "success_distance=0.1"], tmp_path)
    (row,) = result["rows"]
    assert row[0] == "xarm6" and 0 <= float(row[1]) <= 1
    assert 0 < float(row[4]) <= float(row[3])  # the wall-clock less its evaluations
    assert result["data"]["env_kwargs"] == {"success_distance": 0.1}
    assert "success_distance=0.1" in result["title"]


def test_memory_bench_writes_every_rank_rss_at_each_mark(tmp_path):
    args = ["--env", "ArmReach-v0", "--steps", "8000", "--marks", "4000", "6000", "8000"]
    result = run_bench("memory", args, tmp_path, timeout=180)
    assert [row[0] for row in result["rows"]] == ["rank 0", "rank 1"]
    for row in result["rows"]:
        rss = [float(cell) for cell in row[1:4]]
        assert all(mb > 50 for mb in rss)  # a rank with torch and PyBullet loaded
        assert abs(float(row[4]) - (rss[2] - rss[1])) <= 1.0  # the growth, of unrounded RSS


def test_pixels_bench_writes_ours_beside_env_only_and_sb3(tmp_path):
    args = ["--arms", "xarm6", "--sb3_arms", "xarm6", "--seeds", "0", "--steps", "6000",
            "--sb3_steps", "64", "--final_episodes", "2", "--env_steps", "10",
            "--env_kwargs", "image_size=40"]  # fmt: skip
    result = run_bench("pixels", args, tmp_path, timeout=300)
    ours, sb3 = result["rows"]
    assert ours[0] == "ours, xarm6" and sb3[0] == "sb3 MultiInputPolicy, xarm6"
    run = result["data"]["xarm6"]["runs"][0]
    assert 0 <= run["final"] <= 1 and len(run["collect"]) == len(run["update"]) == 2
    env_only = result["data"]["xarm6"]["env_only_steps_per_s"]
    assert f"x env-only {env_only:.0f})" in ours[5]
    assert all(len(ranks) == 2 and min(ranks) > 0 for ranks in run["rss_mb"].values())


def test_encoders_bench_writes_each_cnns_error_at_each_mark(tmp_path):
    args = ["--arms", "xarm6", "--images", "200", "--test", "50", "--marks", "2", "5"]
    result = run_bench("encoders", args, tmp_path, timeout=120)
    cnns = ["spatial softmax (core.cnn)", "flatten (Nature DQN, half width)",
            "spatial softmax, 8 x 8 patches"]  # fmt: skip
    assert [row[1:3] for row in result["rows"]] == [[cnn, m] for cnn in cnns for m in ("2", "5")]
    assert all(float(error) > 0 for row in result["rows"] for error in row[3:6])
    forward = {cnn: result["data"][f"xarm6, {cnn}"]["forward_us"] for cnn in cnns}
    assert forward[cnns[2]] < forward[cnns[0]]  # the coarse patches: the cheaper forward pass
