"""What a new user meets in the first hour: which run a command points at, an agent that acts on
raw observations, clear answers to odd flags, and a resume with nothing to do (real processes)."""

import json
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

import ppo
from tests.helpers import REPO, assert_ok, default_run_dir, run, run_mpi
from tests.test_ppo import read_progress
from utils.seeding import evaluation_seed
from utils.test_policy import load_policy_and_env, run_policy

# 4 episodes for the final policy, not 50: these runs test what they print, not how well.
TINY = ["--epochs", "1", "--steps", "400", "--num_envs", "4", "--eval_episodes", "4", "--quiet"]


def test_every_run_prints_its_directory_and_records_it_and_tools_name_later_runs(tmp_path):
    args = [sys.executable, "ppo.py", *TINY, "--data_dir", str(tmp_path)]
    first = default_run_dir(tmp_path)
    later = first.with_name(f"{first.name}_1")
    for run_dir in [first, later]:  # the same command twice: the second run goes to _1
        result = run(args)
        assert_ok(result)
        lines = [line for line in result.stdout.splitlines() if "Run directory" in line]
        assert lines[0] == f"Run directory: {run_dir}"
        assert lines[-1].startswith(f"Run directory: {run_dir} (done)")
        config = json.loads((run_dir / "config.json").read_text())
        assert config["logger_kwargs"]["output_dir"] == str(run_dir)

    result = run([sys.executable, "-m", "utils.test_policy", str(first), "--episodes", "1"])
    assert_ok(result)
    assert f"note: {later} is a later run of the same name" in result.stderr

    folder = run([sys.executable, "-m", "utils.test_policy", str(first.parent)])
    assert folder.returncode == 2 and "Traceback" not in folder.stderr
    assert "is a folder of runs, not a run" in folder.stderr
    assert str(first) in folder.stderr and str(later) in folder.stderr


@pytest.mark.parametrize("normalize_obs", [True, False])
def test_returned_agent_acts_on_raw_observations_as_the_saved_policy_does(tmp_path, normalize_obs):
    ac = ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        epochs=2,
        steps_per_epoch=400,
        num_envs=4,
        normalize_obs=normalize_obs,
        quiet=True,
        logger_kwargs=dict(output_dir=str(tmp_path)),
    )
    env, get_action = load_policy_and_env(tmp_path)
    env.action_space.seed(0)
    observations = [env.reset(seed=0)[0]]
    for _ in range(30):
        observations.append(env.step(env.action_space.sample())[0])
    observations = np.array(observations)
    batch = ac.act(observations, deterministic=True)
    assert batch.shape == (31, 7)
    for obs, act in zip(observations, batch, strict=True):
        expected = get_action(obs)
        np.testing.assert_allclose(np.clip(ac.act(obs, deterministic=True), -1, 1), expected)
        np.testing.assert_allclose(np.clip(act, -1, 1), expected, atol=1e-6)
    assert (ac.obs_rms is not None) == normalize_obs
    if normalize_obs:  # the network's own input is the normalized observation, not the raw one
        by_hand = (observations - ac.obs_rms.mean.numpy()) / np.sqrt(ac.obs_rms.var.numpy() + 1e-8)
        with torch.no_grad():
            mean = ac.pi.deterministic_action(torch.as_tensor(by_hand, dtype=torch.float32))
        np.testing.assert_allclose(batch, mean.numpy(), atol=1e-6)
    env.close()


@pytest.mark.parametrize("cpu", ["0", "-1", "two", "1.5"])
def test_a_cpu_that_is_not_a_positive_integer_is_one_line_and_exit_2(cpu, tmp_path):
    result = run([sys.executable, "ppo.py", "--cpu", cpu, "--data_dir", str(tmp_path)])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"ppo.py: error: argument --cpu: must be a positive integer, got {cpu!r} "
        "(python ppo.py --help lists the flags)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_finished_run_says_so_at_once_and_a_longer_one_records_its_epochs(tmp_path):
    assert_ok(run([sys.executable, "ppo.py", *TINY, "--cpu", "2", "--data_dir", str(tmp_path)]))
    run_dir = default_run_dir(tmp_path)
    start = time.time()
    result = run([sys.executable, "ppo.py", "--resume", str(run_dir)])
    assert_ok(result)
    assert result.stdout.splitlines() == [
        f"ppo.py: {run_dir} is trained to 1 epochs already (--epochs 1): nothing to do. To train "
        f"it longer: python ppo.py --resume {run_dir} --epochs N, with N > 1."
    ]  # one line from the launching process: no rank started, none printed its directory
    assert time.time() - start < 15

    assert_ok(run([sys.executable, "ppo.py", "--resume", str(run_dir), "--epochs", "2"]))
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2
    assert (run_dir / "progress.txt").read_text().count("\n") == 3  # header and two epochs


def test_four_ranks_of_the_default_run_report_their_episodes_in_every_epoch(tmp_path):
    # The tutorial's `mpirun -np 4 python ppo.py --env ArmReach-v0`: 40 envs over 4 ranks.
    args = [
        "ppo.py",
        "--env",
        "ArmReach-v0",
        "--epochs",
        "3",
        "--quiet",
        "--data_dir",
        str(tmp_path),
    ]
    assert_ok(run_mpi(4, args))
    _, rows = read_progress(default_run_dir(tmp_path))
    for row in rows:
        assert all(np.isfinite(row[key]) for key in ("AverageEpRet", "EpLen", "SuccessRate")), row


def test_a_run_started_in_another_folder_prints_where_its_directory_really_is(tmp_path):
    result = run([sys.executable, str(REPO / "ppo.py"), *TINY], cwd=tmp_path)
    assert_ok(result)
    run_dir = default_run_dir(tmp_path / "data")
    assert f"Run directory: {run_dir}\n" in result.stdout and (run_dir / "progress.txt").exists()


def test_a_run_ends_with_its_final_deterministic_policy_on_unseen_seeds(tmp_path):
    result = run([sys.executable, "ppo.py", *TINY, "--data_dir", str(tmp_path)])
    assert_ok(result)
    env, get_action = load_policy_and_env(default_run_dir(tmp_path))
    expected = run_policy(env, get_action, episodes=4, seed=evaluation_seed(0), max_ep_len=1000)
    assert (
        "The final deterministic policy on 4 episodes of unseen seeds: success rate "
        f"{expected['success_rate']:.2f}, average return {expected['avg_return']:.4g}."
    ) in result.stdout


def test_a_python_without_the_requirements_gets_one_line_that_says_which_and_what_to_run():
    result = run([sys.executable, "-S", "ppo.py"])  # -S: without site-packages
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert f"this Python ({sys.executable}) has no module 'gymnasium'" in result.stderr
    assert ".venv/bin/python ppo.py" in result.stderr
