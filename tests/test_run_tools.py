"""The tools that read a finished run: plots, running the saved policy, videos.

Real runs of ppo() (two epochs, few gradient steps: the tools only need the files a run writes),
real PyBullet rendering, real ffmpeg. The export has its own tests: tests/test_export.py.
"""

import json
import shutil
import sys

import gymnasium as gym
import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers ArmReach-v0)
import ppo
from tests.helpers import assert_ok, run
from utils import plot, test_policy
from utils.checkpoint import actor_critic_from_checkpoint


def train(run_dir, env_id: str, seed: int, exp_name: str):
    """A real, short ppo() run written to run_dir."""
    ppo.ppo(
        lambda: gym.make(env_id),
        seed=seed,
        epochs=2,
        steps_per_epoch=400,
        num_envs=4,  # 100 steps per env: episodes finish, so the curves have points
        train_pi_iters=10,
        train_v_iters=10,
        logger_kwargs=dict(output_dir=str(run_dir), exp_name=exp_name),
    )
    return run_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """data/arm/arm_s0, data/arm/arm_s1 (ArmReach-v0) and data/cartpole/cartpole_s0."""
    data = tmp_path_factory.mktemp("data")
    train(data / "arm" / "arm_s0", "ArmReach-v0", 0, "arm")
    train(data / "arm" / "arm_s1", "ArmReach-v0", 1, "arm")
    train(data / "cartpole" / "cartpole_s0", "CartPole-v1", 0, "cartpole")
    return data


@pytest.fixture(scope="module")
def arm_run(data_dir):
    return data_dir / "arm" / "arm_s0"


@pytest.fixture(scope="module")
def cartpole_run(data_dir):
    return data_dir / "cartpole" / "cartpole_s0"


def rollout_observations(env: gym.Env, n: int, seed: int = 0) -> np.ndarray:
    """n observations of a random-action rollout (resetting at episode ends)."""
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    observations = []
    for _ in range(n):
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return np.array(observations, dtype=np.float32)


def hand_computed_actions(
    run_dir, env: gym.Env, observations: np.ndarray, normalize: bool = True
) -> np.ndarray:
    """The actor's mean for observations normalized by hand from the checkpoint's statistics."""
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ac = actor_critic_from_checkpoint(ckpt, env.observation_space, env.action_space)
    if normalize:
        mean = ckpt["ac"]["obs_rms.mean"].numpy()
        var = ckpt["ac"]["obs_rms.var"].numpy()
        observations = np.clip((observations - mean) / np.sqrt(var + 1e-8), -10, 10)
    with torch.no_grad():
        obs = torch.as_tensor(observations, dtype=torch.float32)
        return ac.pi.deterministic_action(obs).numpy()


def test_get_action_applies_the_saved_normalization_and_returns_the_mean_inside_the_bounds(
    arm_run,
):
    env, get_action = test_policy.load_policy_and_env(arm_run)
    assert env.spec.id == "ArmReach-v0"
    observations = rollout_observations(env, 30)
    actions = np.array([get_action(obs) for obs in observations])
    for act in actions:
        assert env.action_space.contains(act)
    expected = np.clip(hand_computed_actions(arm_run, env, observations), -1, 1)
    np.testing.assert_allclose(actions, expected, atol=1e-6)
    # The saved statistics matter: without them the actions would differ.
    unnormalized = np.clip(hand_computed_actions(arm_run, env, observations, False), -1, 1)
    assert not np.allclose(actions, unnormalized, atol=1e-3)
    env.close()


def test_stochastic_get_action_samples_valid_actions_that_vary(arm_run):
    env, get_action = test_policy.load_policy_and_env(arm_run, deterministic=False)
    obs, _ = env.reset(seed=0)
    actions = np.array([get_action(obs) for _ in range(5)])
    assert all(env.action_space.contains(act) for act in actions)
    assert len(np.unique(actions, axis=0)) == 5
    env.close()


def test_get_action_of_a_discrete_policy_is_the_most_likely_int(cartpole_run):
    env, get_action = test_policy.load_policy_and_env(cartpole_run)
    observations = rollout_observations(env, 20)
    actions = [get_action(obs) for obs in observations]
    assert all(type(act) is int and env.action_space.contains(act) for act in actions)
    assert actions == hand_computed_actions(cartpole_run, env, observations).tolist()
    env.close()


def test_run_policy_reports_returns_lengths_and_success_rate(arm_run, cartpole_run):
    env, get_action = test_policy.load_policy_and_env(arm_run)
    stats = test_policy.run_policy(env, get_action, episodes=2, seed=3)
    assert stats["avg_length"] == 50 and len(stats["returns"]) == 2
    assert stats["avg_return"] == pytest.approx(np.mean(stats["returns"]))
    assert stats["avg_return"] < 0  # minus the distance, every step
    assert 0 <= stats["success_rate"] <= 1
    assert test_policy.run_policy(env, get_action, episodes=2, seed=3) == stats  # reproducible
    env.close()

    env, get_action = test_policy.load_policy_and_env(cartpole_run)
    stats = test_policy.run_policy(env, get_action, episodes=1, max_ep_len=7)
    assert stats["success_rate"] is None  # CartPole reports no is_success
    assert stats["avg_length"] <= 7
    env.close()


def test_cli_prints_average_return_episode_length_and_success_rate(arm_run):
    result = run([sys.executable, "-m", "utils.test_policy", str(arm_run), "--episodes", "2"])
    assert_ok(result)
    lines = dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    env, get_action = test_policy.load_policy_and_env(arm_run)
    stats = test_policy.run_policy(env, get_action, episodes=2, seed=0)
    env.close()
    assert float(lines["AverageEpRet"]) == pytest.approx(stats["avg_return"], rel=1e-3)
    assert float(lines["EpLen"]) == 50
    assert float(lines["SuccessRate"]) == stats["success_rate"]


def check_frames(frames: np.ndarray, count: int) -> None:
    assert frames.shape == (count, 240, 320, 3)
    assert frames[0].std() > 10, "the first frame is blank"
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 0.5, "the arm did not move"


def test_gif_video_holds_a_frame_per_reset_and_step_of_the_first_episodes(arm_run, tmp_path):
    env, get_action = test_policy.load_policy_and_env(arm_run, render_mode="rgb_array")
    video = tmp_path / "arm.gif"
    stats = test_policy.run_policy(env, get_action, episodes=3, video=video, video_episodes=2)
    env.close()
    assert stats["video_frames"] == 2 * 51  # reset + 50 steps, for 2 of the 3 episodes
    check_frames(iio.imread(video), 2 * 51)
    # 25 fps (the env's render_fps): 40 ms per frame.
    assert iio.immeta(video, index=0)["duration"] == 40


def test_mp4_video_plays_at_the_env_frame_rate(arm_run, tmp_path):
    env, get_action = test_policy.load_policy_and_env(arm_run, render_mode="rgb_array")
    video = tmp_path / "arm.mp4"
    stats = test_policy.run_policy(env, get_action, episodes=1, video=video)
    env.close()
    assert stats["video_frames"] == 51
    with imageio.get_reader(video, format="FFMPEG") as reader:
        assert reader.get_meta_data()["fps"] == 25
        frames = np.array([frame for frame in reader.iter_data()])
    check_frames(frames, 51)


def test_load_runs_groups_two_seeds_and_another_experiment_into_two_experiments(data_dir):
    runs = plot.load_runs([data_dir])
    assert len(runs) == 3
    groups = plot.group_runs(runs)
    assert {name: [r[0].name for r in group] for name, group in groups.items()} == {
        "arm on ArmReach-v0": ["arm_s0", "arm_s1"],
        "cartpole on CartPole-v1": ["cartpole_s0"],
    }
    assert runs[0][2]["TotalEnvInteracts"].tolist() == [800, 1200]  # 400: the warm-up


def test_experiment_name_falls_back_to_the_directory_name_without_the_seed(tmp_path):
    assert plot.experiment_name((tmp_path / "big_net_s3", {}, {})) == "big_net"
    assert plot.experiment_name((tmp_path / "big_net_s3_2", {}, {})) == "big_net"
    assert plot.experiment_name((tmp_path / "x_s3", {"exp_name": "named"}, {})) == "named"


def test_plot_runs_draws_the_mean_of_the_seeds_with_a_band_per_experiment(data_dir, tmp_path):
    out = tmp_path / "curves.png"
    fig = plot.plot_runs([data_dir], values=["AverageEpRet"], out=out)
    image = iio.imread(out)
    assert image.shape[0] > 100 and image[..., :3].std() > 10
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"arm on ArmReach-v0 (2 seeds)", "cartpole on CartPole-v1 (1 seed)"}
    assert fig.texts[0].get_text().startswith("each curve: the mean over its 1 seed or 2 seeds")
    returns = [
        plot.read_progress(data_dir / "arm" / seed / "progress.txt")["AverageEpRet"]
        for seed in ("arm_s0", "arm_s1")
    ]
    arm = lines["arm on ArmReach-v0 (2 seeds)"]
    np.testing.assert_allclose(arm.get_xdata(), [800, 1200])  # TotalEnvInteracts
    np.testing.assert_allclose(arm.get_ydata(), (returns[0] + returns[1]) / 2)
    assert len(ax.collections) == 1  # a band for the experiment with two seeds only


def test_runs_of_different_length_are_averaged_over_their_common_epochs(data_dir, tmp_path):
    for seed in ("arm_s0", "arm_s1"):
        shutil.copytree(data_dir / "arm" / seed, tmp_path / seed)
    progress = tmp_path / "arm_s1" / "progress.txt"
    progress.write_text("\n".join(progress.read_text().splitlines()[:2]) + "\n")  # one epoch
    with pytest.warns(UserWarning, match="1 to 2 rows; it is drawn over the first 1"):
        fig = plot.plot_runs([tmp_path], ["AverageEpRet", "SuccessRate"], out=None, smooth=2)
    assert [ax.get_lines()[0].get_xdata().tolist() for ax in fig.axes] == [[800], [800]]


def test_a_rerun_of_a_seed_is_its_own_curve_not_another_seed(data_dir, tmp_path):
    shutil.copytree(data_dir / "arm", tmp_path / "arm")
    shutil.copytree(data_dir / "arm" / "arm_s0", tmp_path / "arm" / "arm_s0_1")  # seed 0 again
    with pytest.warns(UserWarning, match="arm_s0_1 is a rerun of seed 0 of arm on ArmReach-v0"):
        groups = plot.group_runs(plot.load_runs([tmp_path]))
    assert {name: [r[0].name for r in group] for name, group in groups.items()} == {
        "arm on ArmReach-v0": ["arm_s0", "arm_s1"],
        "arm on ArmReach-v0, rerun 1": ["arm_s0_1"],
    }


def test_runs_of_other_environments_are_never_averaged_with_each_other(data_dir, tmp_path):
    # The same experiment name on CartPole and on the arm: two curves, labelled by their env.
    shutil.copytree(data_dir / "arm", tmp_path / "ppo")
    shutil.copytree(data_dir / "cartpole" / "cartpole_s0", tmp_path / "ppo" / "cartpole_s0")
    for config_file in (tmp_path / "ppo").glob("*/config.json"):
        config = json.loads(config_file.read_text())
        config_file.write_text(json.dumps(dict(config, exp_name="ppo")))
    fig = plot.plot_runs([tmp_path], out=None)
    labels = sorted(line.get_label() for line in fig.axes[0].get_lines())
    assert labels == ["ppo on ArmReach-v0 (2 seeds)", "ppo on CartPole-v1 (1 seed)"]


def test_plot_cli_writes_a_png(data_dir, tmp_path):
    out = tmp_path / "arm.png"
    result = run(
        [sys.executable, "-m", "utils.plot", str(data_dir / "arm"), "--out", str(out)]
        + ["--value", "AverageEpRet", "SuccessRate", "--xaxis", "Epoch", "--smooth", "2"]
    )
    assert_ok(result)
    assert iio.imread(out).shape[1] > iio.imread(out).shape[0]  # two subplots side by side
    assert "note:" not in result.stderr


def test_plot_cli_says_when_a_rerun_is_not_counted_as_a_seed(data_dir, tmp_path):
    shutil.copytree(data_dir / "arm" / "arm_s0", tmp_path / "arm_s0")
    shutil.copytree(data_dir / "arm" / "arm_s0", tmp_path / "arm_s0_1")
    result = run(
        [sys.executable, "-m", "utils.plot", str(tmp_path), "--out", str(tmp_path / "c.png")]
    )
    assert_ok(result)
    assert "note:" in result.stderr and "arm_s0_1 is a rerun of seed 0" in result.stderr


def corrupt_run(arm_run, tmp_path):
    run_dir = tmp_path / "corrupt"
    shutil.copytree(arm_run, run_dir)
    data = (run_dir / "checkpoint.pt").read_bytes()
    (run_dir / "checkpoint.pt").write_bytes(data[: len(data) // 2])  # a torn write
    return run_dir


def no_checkpoint_run(arm_run, tmp_path):
    run_dir = tmp_path / "no_checkpoint"
    run_dir.mkdir()
    shutil.copy(arm_run / "config.json", run_dir)
    return run_dir


ERROR_CASES = {
    "test_policy missing run dir": (
        test_policy.main, lambda arm, tmp: [str(tmp / "nowhere")], "does not exist"
    ),
    "test_policy missing checkpoint": (
        test_policy.main, lambda arm, tmp: [str(no_checkpoint_run(arm, tmp))], "no checkpoint yet"
    ),
    "test_policy corrupt checkpoint": (
        test_policy.main, lambda arm, tmp: [str(corrupt_run(arm, tmp))], "not a readable"
    ),
    "test_policy unknown video extension": (
        test_policy.main, lambda arm, tmp: [str(arm), "--video", str(tmp / "a.avi")], ".gif or .mp4"
    ),
    "plot no progress.txt": (
        plot.main, lambda arm, tmp: [str(tmp)], "no progress.txt found"
    ),
    "plot missing column": (
        plot.main, lambda arm, tmp: [str(arm), "--value", "Nope"], "available: Epoch, AverageEpRet"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_print_one_line_and_exit_2(case, arm_run, tmp_path, capsys):
    main, make_argv, message = ERROR_CASES[case]
    argv = make_argv(arm_run, tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_errors_from_the_command_line_have_no_traceback(arm_run, tmp_path):
    result = run([sys.executable, "-m", "utils.test_policy", str(corrupt_run(arm_run, tmp_path))])
    assert result.returncode == 2
    assert result.stderr.startswith("python -m utils.test_policy: error:")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_plot_joins_the_rows_that_have_a_value_of_a_column_logged_every_few_epochs(tmp_path):
    run_dir = tmp_path / "evals" / "evals_s0"
    run_dir.mkdir(parents=True)
    (run_dir / "progress.txt").write_text(
        "Epoch\tTotalEnvInteracts\tEvalSuccessRate\n"
        "0\t4000\tnan\n1\t8000\t0.25\n2\t12000\tnan\n3\t16000\t0.75\n"
    )
    fig = plot.plot_runs([tmp_path], values=["EvalSuccessRate"], out=None)
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [8000, 16000])
    np.testing.assert_array_equal(line.get_ydata(), [0.25, 0.75])
