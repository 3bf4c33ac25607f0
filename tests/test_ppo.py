"""ppo() end to end: the command line under real MPI, and the notebook API."""

import json
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import ppo
from tests.helpers import assert_ok, default_run_dir, run, run_mpi

COLUMNS = [
    "Epoch", "AverageEpRet", "StdEpRet", "MaxEpRet", "MinEpRet", "EpLen", "SuccessRate",
    "AverageVVals", "StdVVals", "MaxVVals", "MinVVals", "TotalEnvInteracts", "LossPi", "LossV",
    "DeltaLossPi", "DeltaLossV", "Entropy", "KL", "ClipFrac", "StopIter", "StepsPerSec", "Time",
]  # fmt: skip


def read_progress(run_dir):
    header, *rows = (run_dir / "progress.txt").read_text().splitlines()
    return header.split("\t"), [
        dict(zip(header.split("\t"), map(float, r.split("\t")), strict=True)) for r in rows
    ]


def check_arm_reach_run(data_dir, ranks):
    run_dirs = list(data_dir.glob("*/*"))
    assert run_dirs == [default_run_dir(data_dir)], "exactly one run directory"
    columns, rows = read_progress(run_dirs[0])
    assert columns == COLUMNS
    assert [r["Epoch"] for r in rows] == [0, 1]
    assert [r["TotalEnvInteracts"] for r in rows] == [2000, 3000]  # 1000: the warm-up
    # 1000 steps over 2 ranks x 20 envs: the 50-step episodes end in epoch 0, after the warm-up.
    assert 0 <= rows[0]["SuccessRate"] <= 1 and rows[0]["AverageEpRet"] < 0
    config = json.loads((run_dirs[0] / "config.json").read_text())
    assert config["mpi_ranks"] == ranks and config["env_id"] == "ArmReach-v0"
    assert (run_dirs[0] / "checkpoint.pt").exists()


ARM_REACH_ARGS = ["--env", "ArmReach-v0", "--epochs", "2", "--steps", "1000"]


@pytest.mark.parametrize("launch", ["mpirun -np 2", "--cpu 2", "--cpu 2 under mpirun -np 2"])
def test_command_line_trains_arm_reach_on_two_ranks_and_writes_progress_columns(tmp_path, launch):
    args = ["ppo.py", *ARM_REACH_ARGS, "--data_dir", str(tmp_path)]
    if launch == "mpirun -np 2":
        result = run_mpi(2, args)
    elif launch == "--cpu 2":
        result = run([sys.executable, *args, "--cpu", "2"])
    else:  # already inside an MPI world: --cpu must not relaunch (that would start 4 ranks)
        result = run_mpi(2, [*args, "--cpu", "2"])
    assert_ok(result)
    check_arm_reach_run(tmp_path, ranks=2)


def test_help_documents_every_tunable_argument_by_its_name():
    result = run([sys.executable, "ppo.py", "--help"])
    assert_ok(result)
    for flag in ["--pi_lr", "--vf_lr", "--target_kl", "--train_pi_iters", "--train_v_iters",
                 "--clip_ratio", "--gamma", "--lam", "--steps_per_epoch", "--epochs", "--seed",
                 "--max_ep_len", "--save_freq", "--loss", "--num_envs", "--hid", "--l",
                 "--cpu", "--exp_name", "--data_dir", "--normalize_obs"]:  # fmt: skip
        assert flag in result.stdout, flag
    assert "Learning rate of the policy's Adam" in result.stdout  # ppo()'s docstring


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "ArmRech-v0"], "ArmReach"),
        (["--gamma", "1.5"], "gamma=1.5 must be in (0, 1]"),
        (["--steps", "1001", "--num_envs", "2"], "steps_per_epoch=1001 must be a multiple"),
        (["--loss", "kl"], "loss='kl' is not one of"),
    ],
)
def test_bad_command_line_input_gets_one_clear_line_and_no_traceback(tmp_path, args, message):
    result = run([sys.executable, "ppo.py", "--data_dir", str(tmp_path), "--epochs", "1", *args])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_notebook_api_improves_cartpole_return_within_a_small_budget(tmp_path):
    ac = ppo.ppo(
        lambda: gym.make("CartPole-v1"),
        epochs=6,
        steps_per_epoch=2000,
        num_envs=4,
        logger_kwargs=dict(output_dir=str(tmp_path)),
    )
    _, rows = read_progress(tmp_path)
    first, last = rows[0]["AverageEpRet"], rows[-1]["AverageEpRet"]
    assert last > 3 * first and last > 80, f"AverageEpRet went from {first} to {last}"
    assert ac.act(np.zeros((1, 4), dtype=np.float32), deterministic=True).shape == (1,)


@pytest.mark.parametrize("warmup", [True, False])
def test_warmup_gives_the_normalizers_one_epoch_before_the_first_update(tmp_path, warmup):
    ac = ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        epochs=2,
        steps_per_epoch=100,
        num_envs=2,
        train_pi_iters=1,
        train_v_iters=1,
        warmup_normalizers=warmup,
        quiet=True,
        logger_kwargs=dict(output_dir=str(tmp_path)),
    )
    _, rows = read_progress(tmp_path)
    warmup_steps = 100 if warmup else 0  # counted as experience, not learned from
    assert [r["TotalEnvInteracts"] for r in rows] == [warmup_steps + 100, warmup_steps + 200]
    # The normalizer holds every observation the policy acted on: the warm-up's too.
    assert ac.obs_rms.count.item() == warmup_steps + 200
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert checkpoint["total_env_interacts"] == warmup_steps + 200
    # Time counts the warm-up's seconds too: row 0's Time is more than epoch 0's own.
    seconds_before_epoch_0 = rows[0]["Time"] - 100 / rows[0]["StepsPerSec"]
    assert (seconds_before_epoch_0 > 0.01) == warmup, seconds_before_epoch_0


def test_penalty_variant_adapts_its_coefficient_and_improves_cartpole(tmp_path):
    ppo.ppo(
        lambda: gym.make("CartPole-v1"),
        epochs=6,
        steps_per_epoch=2000,
        num_envs=4,
        loss="penalty",
        logger_kwargs=dict(output_dir=str(tmp_path)),
    )
    _, rows = read_progress(tmp_path)
    assert len({r["KLBeta"] for r in rows}) > 1, "the KL coefficient never adapted"
    assert rows[-1]["AverageEpRet"] > 2 * rows[0]["AverageEpRet"]


def test_evaluation_runs_the_deterministic_policy_on_fixed_unseen_seeds(tmp_path):
    from utils.seeding import evaluation_seed
    from utils.test_policy import load_policy_and_env, run_policy

    ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        epochs=3,
        steps_per_epoch=400,
        train_pi_iters=5,
        train_v_iters=5,
        eval_freq=2,
        eval_episodes=4,
        quiet=True,
        logger_kwargs=dict(output_dir=str(tmp_path)),
    )
    columns, rows = read_progress(tmp_path)
    assert {"EvalEpRet", "EvalEpLen", "EvalSuccessRate", "EvalTime"} <= set(columns)
    evaluated = [not np.isnan(r["EvalEpRet"]) for r in rows]
    assert evaluated == [False, True, True]  # every 2nd epoch, and after the last
    # The last evaluation is what test_policy gets from the saved policy on the same seeds.
    env, get_action = load_policy_and_env(tmp_path)
    result = run_policy(env, get_action, episodes=4, seed=evaluation_seed(0))
    assert rows[-1]["EvalEpRet"] == pytest.approx(result["avg_return"], rel=1e-5)
    assert rows[-1]["EvalEpLen"] == result["avg_length"] == 50
    assert rows[-1]["EvalSuccessRate"] == pytest.approx(result["success_rate"])


def test_envs_and_logger_are_closed_when_training_raises(tmp_path):
    from tests.faulty_envs import arm_reach_with_fault

    made = []

    def env_fn():
        made.append(arm_reach_with_fault("raise", 30)())
        return made[-1]

    with pytest.raises(RuntimeError, match="exploded"):
        ppo.ppo(
            env_fn,
            steps_per_epoch=400,
            num_envs=2,
            epochs=2,
            eval_freq=1,
            quiet=True,
            logger_kwargs=dict(output_dir=str(tmp_path)),
        )
    assert len(made) == 3  # two training envs and the evaluation env
    assert all(env.unwrapped.client is None for env in made), "a PyBullet client was left open"


def test_evaluation_ends_its_episodes_at_max_ep_len_on_an_env_without_a_time_limit(tmp_path):
    # Pendulum without its TimeLimit never ends an episode: only max_ep_len can.
    code = (
        "import gymnasium as gym, ppo; ppo.ppo(lambda: gym.make('Pendulum-v1').unwrapped, "
        "max_ep_len=20, eval_freq=1, eval_episodes=2, epochs=1, steps_per_epoch=80, num_envs=4, "
        f"quiet=True, logger_kwargs=dict(output_dir={str(tmp_path)!r}))"
    )
    assert_ok(run([sys.executable, "-c", code], timeout=120))
    _, rows = read_progress(tmp_path)
    assert rows[0]["EvalEpLen"] == 20 and rows[0]["EpLen"] == 20


class ReportsSuccessAtTheEnd(gym.Wrapper):
    """CartPole whose info holds is_success on the last step of an episode only."""

    def step(self, action):
        obs, rew, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            info = dict(info, is_success=truncated)
        return obs, rew, terminated, truncated, info


def test_success_is_reported_when_any_step_holds_is_success_not_only_the_first(tmp_path):
    ppo.ppo(
        lambda: ReportsSuccessAtTheEnd(gym.make("CartPole-v1", max_episode_steps=30)),
        epochs=2,
        steps_per_epoch=400,
        num_envs=4,
        quiet=True,
        logger_kwargs=dict(output_dir=str(tmp_path)),
    )
    columns, rows = read_progress(tmp_path)
    assert "SuccessRate" in columns
    # An episode succeeds when it lasts the 30 steps, as some of the first ones do.
    assert all(0 <= r["SuccessRate"] <= 1 for r in rows)
    assert max(r["SuccessRate"] for r in rows) > 0
