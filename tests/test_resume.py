"""Checkpoints and resume: a run killed with SIGKILL at any point continues where it saved."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

import core
import ppo
from tests.helpers import REPO, assert_ok, default_run_dir, run
from tests.test_ppo import read_progress

CLOCK_COLUMNS = ("Time", "StepsPerSec", "EvalTime")


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
    assert len(checkpoint["ranks"]) == 2, "one part per rank: its generators and episodes"

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


def test_a_run_saved_before_four_flags_and_num_envs_existed_resumes_as_it_was(tmp_path):
    # normalize_rew, adam_eps, lambda_returns, warmup_normalizers: a run saved before them had
    # False, 1e-8, False, False. Before num_envs, config.json had envs_per_proc (per rank) and the
    # checkpoint each rank's generators only ("rng"), after the episodes' resets.
    run_dir = default_run_dir(tmp_path)
    assert_ok(run([sys.executable, "ppo.py", "--epochs", "1", "--steps", "200", "--quiet",
                   "--no-normalize_rew", "--adam_eps", "1e-8", "--no-lambda_returns",
                   "--no-warmup_normalizers",
                   "--data_dir", str(tmp_path)]))  # fmt: skip
    config = json.loads((run_dir / "config.json").read_text())
    for flag in ["normalize_rew", "adam_eps", "lambda_returns", "warmup_normalizers"]:
        del config[flag]  # not yet flags
    config["envs_per_proc"] = config.pop("num_envs")
    (run_dir / "config.json").write_text(json.dumps(config))
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    del checkpoint["rew_rms"], checkpoint["reports_success"]
    checkpoint["rng"] = [
        dict(torch=rank["torch"], numpy=rank["numpy"], envs=rank["episodes"]["reset_rng"])
        for rank in checkpoint.pop("ranks")
    ]
    torch.save(checkpoint, run_dir / "checkpoint.pt")
    assert_ok(run([sys.executable, "ppo.py", "--resume", str(run_dir), "--epochs", "2", "--quiet"]))
    _, rows = read_progress(run_dir)
    assert [r["Epoch"] for r in rows] == [0, 1]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["num_envs"] == 40 and "envs_per_proc" not in config
    assert "SuccessRate" in (run_dir / "progress.txt").read_text().splitlines()[0]
    assert config["normalize_rew"] is False and config["adam_eps"] == 1e-8
    assert config["lambda_returns"] is False and config["warmup_normalizers"] is False
    # The optimizers' state resumed with the epsilon they were saved with.
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert {g["eps"] for opt in ("pi_optimizer", "vf_optimizer")
            for g in checkpoint[opt]["param_groups"]} == {1e-8}  # fmt: skip


def progress_but_the_clock(run_dir) -> list[list[str]]:
    """progress.txt's header and rows as written (every digit), without the clock's columns."""
    header, *rows = [
        line.split("\t") for line in (run_dir / "progress.txt").read_text().splitlines()
    ]
    keep = [i for i, column in enumerate(header) if column not in CLOCK_COLUMNS]
    return [[line[i] for i in keep] for line in [header, *rows]]


# 30 steps per env and epoch (1200 over 40 envs; with pixels 60, 480 over 8), episodes of 50
# (Pendulum's of 200): at every checkpoint the envs are in the middle of their episodes, which the
# resume must go on with. One process runs in this one; two ranks under mpirun.
SAME_RUN_CASES = {
    "ArmReach-v0": ("ArmReach-v0", {}, 1, {}),
    "ArmReach-v1 pose, evaluated": (
        "ArmReach-v1",
        {"goal": "pose"},
        1,
        {"eval_freq": 1, "num_envs": 8},
    ),
    "ArmReach-v1 pixels, 2 ranks": (
        "ArmReach-v1",
        {"obs_mode": "pixels", "image_size": 16},
        2,
        {"num_envs": 8},
    ),
    "Pendulum-v1 (a flat Gymnasium env)": ("Pendulum-v1", {}, 1, {}),
}


def train(out, env_id, env_kwargs, ranks, kwargs, epochs, resume=None):
    """A run of `epochs` epochs in `out` (or the resume of the run there), in this process for
    one rank, under mpirun for more."""
    if ranks == 1:
        make = lambda: gym.make(env_id, **env_kwargs)  # noqa: E731
        where = dict(resume=str(out)) if resume else dict(logger_kwargs=dict(output_dir=str(out)))
        steps = 480 if "num_envs" in kwargs else 1200
        ppo.ppo(make, steps_per_epoch=steps, epochs=epochs, quiet=True, **kwargs, **where)
        return
    if resume:
        assert_ok(run([sys.executable, "ppo.py", "--resume", str(out), "--epochs", str(epochs)]))
        return
    flags = [f"--{key}={value}" for key, value in kwargs.items()]
    flags += ["--env_kwargs", *(f"{key}={value}" for key, value in env_kwargs.items())]
    steps = "480" if "num_envs" in kwargs else "1200"
    assert_ok(run([sys.executable, "ppo.py", "--env", env_id, "--steps", steps, "--cpu",
                   str(ranks), "--quiet", "--epochs", str(epochs), "--exp_name", "x",
                   "--data_dir", str(out.parent), *flags]))  # fmt: skip
    (out.parent / "x" / "x_s0").rename(out)


@pytest.mark.parametrize("case", SAME_RUN_CASES)
def test_k_epochs_then_a_resume_to_n_give_the_progress_of_n_epochs_bit_for_bit(
    tmp_path, case, capsys
):
    env_id, env_kwargs, ranks, kwargs = SAME_RUN_CASES[case]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(whole, env_id, env_kwargs, ranks, kwargs, epochs=3)
    train(parts, env_id, env_kwargs, ranks, kwargs, epochs=1)
    train(parts, env_id, env_kwargs, ranks, kwargs, epochs=3, resume=True)
    assert "Note: replayed" not in capsys.readouterr().out
    expected = progress_but_the_clock(whole)
    assert len(expected) == 4 and progress_but_the_clock(parts) == expected


class NoisyPendulum(gym.Wrapper):
    """Pendulum whose observations carry noise from outside its seed: a replay cannot match."""

    def step(self, action):
        obs, *rest = self.env.step(action)
        return obs + np.random.default_rng().normal(0, 1e-3, obs.shape).astype(obs.dtype), *rest


def test_a_resume_whose_replay_misses_the_saved_observations_says_how_far(tmp_path, capsys):
    kwargs = dict(steps_per_epoch=120, num_envs=4, logger_kwargs=dict(output_dir=str(tmp_path)))
    ppo.ppo(lambda: NoisyPendulum(gym.make("Pendulum-v1")), epochs=1, quiet=True, **kwargs)
    capsys.readouterr()
    ppo.ppo(
        lambda: NoisyPendulum(gym.make("Pendulum-v1")), epochs=2, resume=str(tmp_path), **kwargs
    )
    out = capsys.readouterr().out
    assert "Note: replayed, the episodes in flight end up to " in out
    assert "from a state the run did not have" in out


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        epochs=1,
        steps_per_epoch=400,
        quiet=True,
        logger_kwargs=dict(output_dir=str(run_dir)),
    )
    return run_dir


class WiderCritic(core.MLPActorCritic):
    """MLPActorCritic whose critic has a third layer: a checkpoint of the default cannot fit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        size = self.v.v_net[0].in_features
        self.v = core.MLPCritic(size, (64, 64, 64), torch.nn.Tanh)


@pytest.mark.parametrize(
    "changed, message",
    [
        (
            dict(ac_kwargs=dict(hidden_sizes=(32, 32))),
            "hidden_sizes=[32, 32] differs from [64, 64]",
        ),
        (dict(ac_kwargs=dict(activation=torch.nn.ReLU)), "activation='ReLU' differs from 'Tanh'"),
        (dict(state_loss_coef=0.5), "state_loss_coef=0.5 differs from 1.0"),
        (dict(privileged_critic=False), "privileged_critic=False differs from True"),
        (dict(eval_freq=2), "in turning evaluation on or off, which would change its progress"),
        (
            dict(actor_critic=WiderCritic),
            "the checkpoint's networks do not fit the ones this resume",
        ),
    ],
)
def test_a_resume_that_changes_what_the_checkpoint_holds_names_it_in_one_line(
    one_epoch_run, changed, message
):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        ppo.ppo(
            lambda: gym.make("ArmReach-v0"),
            epochs=2,
            steps_per_epoch=400,
            quiet=True,
            resume=str(one_epoch_run),
            **changed,
        )
    assert "\n" not in str(error.value)


def test_a_resume_that_changes_the_networks_on_the_command_line_is_one_line(one_epoch_run):
    result = run([sys.executable, "ppo.py", "--resume", str(one_epoch_run), "--hid", "32"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "hidden_sizes=[32, 32] differs from [64, 64]" in result.stderr


def test_a_resume_with_anneal_lr_and_more_epochs_says_what_becomes_of_the_schedule(tmp_path):
    args = [sys.executable, "ppo.py", "--steps", "400", "--anneal_lr", "--quiet"]
    assert_ok(run([*args, "--epochs", "2", "--data_dir", str(tmp_path)]))
    run_dir = default_run_dir(tmp_path)
    result = run([sys.executable, "ppo.py", "--resume", str(run_dir), "--epochs", "6"])
    assert_ok(result)
    assert (
        "anneal_lr: the learning rates now fall to 0 over 6 epochs instead of 2: from epoch 2 on "
        "they run at 0.667 of pi_lr and vf_lr, where the run's last epoch ran at 0.500"
    ) in result.stdout
    resumed = json.loads((run_dir / "config.json").read_text())["resumed"]
    assert resumed[-1]["from_epoch"] == 2
    assert resumed[-1]["changed"]["epochs"] == {"before": 2, "after": 6}
