"""Checkpoints and resume: a run killed with SIGKILL at any point continues where it saved."""

import json
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import pytest
import torch

import ppo
from tests.helpers import REPO, assert_ok, default_run_dir, run
from tests.test_ppo import read_progress


def wait_for_rows(progress, rows, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if progress.exists() and progress.read_text().count("\n") > rows:
            return
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    pytest.fail(f"{progress} did not reach {rows} rows in {timeout} s")


@pytest.mark.parametrize("rows_before_kill", [4, 5])
def test_sigkill_mid_training_then_resume_gives_every_epoch_once_in_order(
    tmp_path, rows_before_kill
):
    args = ["ppo.py", "--cpu", "2", "--epochs", "7", "--steps", "400", "--save_freq", "3"]
    args += ["--quiet", "--data_dir", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = default_run_dir(tmp_path)
    try:
        wait_for_rows(run_dir / "progress.txt", rows_before_kill, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # mpirun and both ranks, no chance to clean up
        proc.wait()

    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] in (2, 5)  # saved after every 3rd epoch
    assert len(checkpoint["rng"]) == 2, "one set of random generator states per rank"

    result = run([sys.executable, "ppo.py", "--resume", str(run_dir), "--quiet"])
    assert_ok(result)
    _, rows = read_progress(run_dir)
    assert [r["Epoch"] for r in rows] == list(range(7))
    # The first 400 steps are the normalizers' warm-up, before epoch 0 and not again on resume.
    assert [r["TotalEnvInteracts"] for r in rows] == [400 * (i + 2) for i in range(7)]
    assert all(r["Time"] > 0 for r in rows)
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 6


def test_notebook_resume_continues_from_the_checkpoint_state(tmp_path):
    kwargs = dict(steps_per_epoch=400, train_pi_iters=5, train_v_iters=5, save_freq=2)
    ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        epochs=2,
        logger_kwargs=dict(output_dir=str(tmp_path)),
        quiet=True,
        **kwargs,
    )
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)

    # Nothing left to train: the returned networks and normalizer are the checkpoint's.
    ac = ppo.ppo(
        lambda: gym.make("ArmReach-v0"), epochs=2, resume=str(tmp_path), quiet=True, **kwargs
    )
    for key, value in ac.state_dict().items():
        torch.testing.assert_close(value, saved["ac"][key])

    ac = ppo.ppo(
        lambda: gym.make("ArmReach-v0"), epochs=3, resume=str(tmp_path), quiet=True, **kwargs
    )
    _, rows = read_progress(tmp_path)
    assert [r["Epoch"] for r in rows] == [0, 1, 2]
    assert rows[-1]["TotalEnvInteracts"] == 1600  # the warm-up's 400, then 3 epochs: no new one
    assert ac.obs_rms.count.item() == 1600  # the normalizer went on counting from the checkpoint
    # ... and so did the reward scale's statistics, which live beside the actor-critic
    rew_rms = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["rew_rms"]
    assert rew_rms["count"].item() == 1600 and saved["rew_rms"]["count"].item() == 1200


def test_resume_with_other_ranks_or_settings_is_a_clear_error(tmp_path):
    run_dir = default_run_dir(tmp_path)
    assert_ok(run([sys.executable, "ppo.py", "--epochs", "1", "--steps", "200", "--quiet",
                   "--data_dir", str(tmp_path)]))  # fmt: skip
    result = run([sys.executable, "ppo.py", "--resume", str(run_dir), "--cpu", "2"])
    assert result.returncode == 2 and "trained with 1 MPI ranks" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(ValueError, match="steps_per_epoch=400 differs from 200"):
        ppo.ppo(lambda: gym.make("ArmReach-v0"), steps_per_epoch=400, resume=str(run_dir))
    # The optimizers' saved state holds Adam's epsilon: another one would be silently dropped.
    with pytest.raises(ValueError, match="adam_eps=1e-05 differs from 1e-08"):
        ppo.ppo(
            lambda: gym.make("ArmReach-v0"), steps_per_epoch=200, adam_eps=1e-5, resume=str(run_dir)
        )
    (run_dir / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = run([sys.executable, "ppo.py", "--resume", str(run_dir)])
    assert result.returncode == 2 and "not a readable checkpoint" in result.stderr


def test_a_run_saved_before_four_flags_existed_resumes_as_it_was(tmp_path):
    # normalize_rew, adam_eps, lambda_returns, warmup_normalizers: a run saved before them had
    # False, 1e-8, False, False.
    run_dir = default_run_dir(tmp_path)
    assert_ok(run([sys.executable, "ppo.py", "--epochs", "1", "--steps", "200", "--quiet",
                   "--no-normalize_rew", "--adam_eps", "1e-8", "--no-lambda_returns",
                   "--no-warmup_normalizers",
                   "--data_dir", str(tmp_path)]))  # fmt: skip
    config = json.loads((run_dir / "config.json").read_text())
    for flag in ["normalize_rew", "adam_eps", "lambda_returns", "warmup_normalizers"]:
        del config[flag]  # not yet flags
    (run_dir / "config.json").write_text(json.dumps(config))
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    del checkpoint["rew_rms"]
    torch.save(checkpoint, run_dir / "checkpoint.pt")
    assert_ok(run([sys.executable, "ppo.py", "--resume", str(run_dir), "--epochs", "2", "--quiet"]))
    _, rows = read_progress(run_dir)
    assert [r["Epoch"] for r in rows] == [0, 1]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["normalize_rew"] is False and config["adam_eps"] == 1e-8
    assert config["lambda_returns"] is False and config["warmup_normalizers"] is False
    # The optimizers' state resumed with the epsilon they were saved with.
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert {g["eps"] for opt in ("pi_optimizer", "vf_optimizer")
            for g in checkpoint[opt]["param_groups"]} == {1e-8}  # fmt: skip
