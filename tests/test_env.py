"""ArmReach-v0 against its contract (docs/envs.md): real PyBullet, no mocks."""

import pathlib
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, env_render_passive_checker

import envs
from envs.arm import MAX_JOINT_DELTA
from envs.arm_reach import TARGET_HIGH, TARGET_LOW
from envs.tasks import SUCCESS_DISTANCE

EPISODES = 50
# envs/__init__.py silences Gymnasium's "upgrade to v1" advice for v0; pytest resets warning
# filters for every test, so the test module repeats it.
pytestmark = [
    pytest.mark.fast,
    pytest.mark.filterwarnings("ignore:.*The environment ArmReach-v0 is out of date"),
]
V0_FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "arm_reach_v0_trajectories.npz"


@pytest.fixture
def env():
    env = gym.make("ArmReach-v0")
    yield env
    env.close()


def rollout(env: gym.Env, seed: int, actions: np.ndarray) -> np.ndarray:
    """Observations of one reset(seed) followed by `actions`, stacked."""
    obs, _ = env.reset(seed=seed)
    trajectory = [obs]
    for act in actions:
        trajectory.append(env.step(act)[0])
    return np.array(trajectory)


def ik_action(env: gym.Env, obs: np.ndarray) -> np.ndarray:
    """A scripted policy: step the joints towards PyBullet's IK solution for the target."""
    arm = env.unwrapped
    q_goal = arm.client.calculateInverseKinematics(arm.body, arm.ee_link, arm.target_pos)
    return np.clip((np.array(q_goal) - obs[:7]) / MAX_JOINT_DELTA, -1, 1).astype(np.float32)


def run_episode(env: gym.Env, seed: int, policy) -> list[tuple]:
    """(obs, reward, terminated, truncated, info) of every step of one episode."""
    obs, _ = env.reset(seed=seed)
    steps = []
    while not steps or not (steps[-1][2] or steps[-1][3]):
        steps.append(env.step(policy(obs)))
        obs = steps[-1][0]
    return steps


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_import_envs_registers_dense_and_sparse_variants_with_a_time_limit():
    assert envs.MAX_EPISODE_STEPS == 50
    for env_id in ("ArmReach-v0", "ArmReachSparse-v0"):
        assert gym.spec(env_id).max_episode_steps == envs.MAX_EPISODE_STEPS
    assert gym.spec("ArmReachSparse-v0").kwargs == {"reward_type": "sparse"}


def test_observations_rewards_and_infos_match_the_recording_made_before_v1_bit_for_bit():
    # ArmReach-v0 is frozen (Gymnasium's rule); the recording predates ArmReach-v1's shared code.
    fixture = np.load(V0_FIXTURE)
    for i, (env_id, seed) in enumerate(zip(fixture["env_id"], fixture["seed"], strict=True)):
        env = gym.make(str(env_id))
        obs, info = env.reset(seed=int(seed))
        observed = {
            "obs": [obs],
            "is_success": [info["is_success"]],
            "distance": [info["distance"]],
        }
        observed.update(reward=[], terminated=[], truncated=[])
        for act in fixture["action"][i]:
            obs, reward, terminated, truncated, info = env.step(act)
            for key, value in zip(
                ("obs", "reward", "terminated", "truncated", "is_success", "distance"),
                (obs, reward, terminated, truncated, info["is_success"], info["distance"]),
                strict=True,
            ):
                observed[key].append(value)
        env.close()
        for key, values in observed.items():
            np.testing.assert_array_equal(np.array(values), fixture[key][i], err_msg=f"{key}, {i}")
    assert fixture["is_success"].any() and not fixture["is_success"].all()


def test_gymnasium_env_checker_passes_without_warnings(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The GUI ("human") cannot open on a headless machine; rgb_array is checked below.
        check_env(env.unwrapped, skip_render_check=True)


def test_spaces_match_what_reset_and_step_return(env):
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (7,), np.float32)
    space = env.observation_space
    assert space.dtype == np.float32 and space.shape == (23,)
    assert np.isfinite(space.low).all() and np.isfinite(space.high).all()
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and space.contains(obs)
    for _ in range(60):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs.dtype == np.float32 and space.contains(obs)
        assert isinstance(reward, float)
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
        if truncated:
            obs, info = env.reset()


def test_observation_holds_joints_end_effector_target_and_the_vector_between(env):
    obs, info = env.reset(seed=3)
    arm = env.unwrapped
    states = arm.client.getJointStates(arm.body, arm.joints)
    ee = arm.client.getLinkState(arm.body, arm.ee_link, computeForwardKinematics=1)[4]
    expected = [s[0] for s in states] + [s[1] for s in states] + list(ee)
    expected += list(arm.target_pos) + list(arm.target_pos - np.array(ee))
    np.testing.assert_allclose(obs, expected, rtol=0, atol=1e-6)
    assert info["distance"] == pytest.approx(np.linalg.norm(obs[20:]), abs=1e-6)


def test_reset_and_step_info_report_success_and_distance(env):
    _, info = env.reset(seed=0)
    assert set(info) >= {"is_success", "distance"}
    _, reward, _, _, info = env.step(np.zeros(7, np.float32))
    assert info["is_success"] == (info["distance"] <= SUCCESS_DISTANCE)
    assert reward == -info["distance"]


def test_same_seed_and_actions_reproduce_observations_bit_for_bit(env):
    actions = np.random.default_rng(0).uniform(-1, 1, (60, 7)).astype(np.float32)
    first = rollout(env, 7, actions)
    rollout(env, 8, actions[::-1])  # a different episode in between must leave no trace
    again = rollout(env, 7, actions)
    fresh_env = gym.make("ArmReach-v0")
    fresh = rollout(fresh_env, 7, actions)
    fresh_env.close()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, fresh)


def test_seeds_draw_different_start_poses_and_targets_inside_the_box(env):
    starts, targets = [], []
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        starts.append(obs[:7])
        targets.append(obs[17:20])
    assert len({tuple(s) for s in starts}) == 20 and len({tuple(t) for t in targets}) == 20
    targets = np.array(targets)
    assert (targets >= TARGET_LOW.astype(np.float32)).all()
    assert (targets <= TARGET_HIGH.astype(np.float32)).all()


def test_interleaved_envs_in_one_process_follow_the_same_trajectories_as_alone():
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (2, 40, 7)).astype(np.float32)
    alone = []
    for i in range(2):
        single = gym.make("ArmReach-v0")
        alone.append(rollout(single, i, actions[i]))
        single.close()
    pair = [gym.make("ArmReach-v0") for _ in range(2)]
    interleaved = [[pair[i].reset(seed=i)[0]] for i in range(2)]
    for t in range(40):
        for i in range(2):
            interleaved[i].append(pair[i].step(actions[i, t])[0])
    for e in pair:
        e.close()
    for i in range(2):
        np.testing.assert_array_equal(np.array(interleaved[i]), alone[i])


def test_every_corner_and_the_center_of_the_target_box_are_reachable(env):
    env.reset(seed=0)
    arm = env.unwrapped
    corners = np.array(np.meshgrid(*zip(TARGET_LOW, TARGET_HIGH, strict=True))).reshape(3, -1).T
    for point in [*corners, (TARGET_LOW + TARGET_HIGH) / 2]:
        for _ in range(20):  # IK from the pose it reached, until it converges
            q = arm.client.calculateInverseKinematics(arm.body, arm.ee_link, point)
            q = np.clip(q, arm.joint_lower, arm.joint_upper)
            for j in arm.joints:
                arm.client.resetJointState(arm.body, j, q[j])
        ee = arm.client.getLinkState(arm.body, arm.ee_link, computeForwardKinematics=1)[4]
        assert np.linalg.norm(np.array(ee) - point) < 0.01, point


def test_ik_controller_succeeds_on_at_least_95_percent_of_episodes(env):
    successes = [
        run_episode(env, seed, lambda obs: ik_action(env, obs))[-1][4]["is_success"]
        for seed in range(EPISODES)
    ]
    assert np.mean(successes) >= 0.95


def test_uniformly_random_policy_succeeds_on_under_10_percent_of_episodes(env):
    env.action_space.seed(0)
    successes = [
        run_episode(env, seed, lambda obs: env.action_space.sample())[-1][4]["is_success"]
        for seed in range(EPISODES)
    ]
    assert np.mean(successes) < 0.10


def test_episode_is_truncated_at_the_time_limit_and_never_terminated_on_success(env):
    steps = run_episode(env, 0, lambda obs: ik_action(env, obs))
    assert len(steps) == envs.MAX_EPISODE_STEPS
    assert not any(terminated for _, _, terminated, _, _ in steps)
    assert [truncated for _, _, _, truncated, _ in steps] == [False] * 49 + [True]
    assert sum(info["is_success"] for *_, info in steps) > 10


def test_sparse_reward_is_minus_one_outside_5_cm_and_zero_within():
    env = gym.make("ArmReachSparse-v0")
    steps = run_episode(env, 0, lambda obs: ik_action(env, obs))
    env.close()
    rewards = [reward for _, reward, _, _, _ in steps]
    assert rewards == [0.0 if info["is_success"] else -1.0 for *_, info in steps]
    assert rewards[0] == -1.0 and rewards[-1] == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises_value_error_naming_the_problem(env, bad):
    env.reset(seed=0)
    action = np.zeros(7, np.float32)
    action[3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(action)


@pytest.mark.parametrize("shape", [(6,), (8,), (1, 7), ()])
def test_action_of_wrong_shape_raises_value_error(env, shape):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expects shape \(7,\)"):
        env.step(np.zeros(shape, np.float32))


def test_out_of_range_actions_behave_like_the_clipped_action():
    actions = np.random.default_rng(2).choice([-1.0, 1.0], (30, 7)).astype(np.float32)
    trajectories = []
    for scale in (1, 10):
        env = gym.make("ArmReach-v0")
        trajectories.append(rollout(env, 0, scale * actions))
        env.close()
    np.testing.assert_array_equal(trajectories[0], trajectories[1])


def test_joints_pushed_against_their_limits_stay_within_the_observation_bounds():
    env = gym.make("ArmReach-v0").unwrapped  # no time limit: push for long enough to hit limits
    env.reset(seed=0)
    for sign in (1, -1):
        for _ in range(200):
            obs, *_ = env.step(np.full(7, sign, np.float32))
            assert env.observation_space.contains(obs)
        np.testing.assert_allclose(
            obs[:7], env.joint_upper if sign > 0 else env.joint_lower, atol=0.01
        )
    env.close()


def test_unknown_reward_type_or_render_mode_raises_value_error():
    with pytest.raises(ValueError, match="reward_type='shaped'"):
        gym.make("ArmReach-v0", reward_type="shaped")
    with pytest.raises(ValueError, match="render_mode='ansi'"):
        envs.arm_reach.ArmReachEnv(render_mode="ansi")


def test_rgb_array_render_is_a_nonblank_uint8_image_showing_the_target():
    env = gym.make("ArmReach-v0", render_mode="rgb_array", width=160, height=120)
    env_render_passive_checker(env.unwrapped)
    frames = []
    for seed in (0, 1):
        env.reset(seed=seed)
        frames.append(env.render())
    env.close()
    for frame in frames:
        assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
        assert frame.std() > 10
    assert not np.array_equal(frames[0], frames[1])  # the target marker moved


def test_target_marker_and_rendering_leave_the_dynamics_unchanged():
    actions = np.random.default_rng(3).uniform(-1, 1, (30, 7)).astype(np.float32)
    plain = gym.make("ArmReach-v0")
    expected = rollout(plain, 0, actions)
    plain.close()
    rendered = gym.make("ArmReach-v0", render_mode="rgb_array", width=64, height=48)
    obs, _ = rendered.reset(seed=0)
    trajectory = [obs]
    for act in actions:
        rendered.render()
        trajectory.append(rendered.step(act)[0])
    marker = rendered.unwrapped.task.marker
    assert rendered.unwrapped.client.getCollisionShapeData(marker, -1) == ()
    rendered.close()
    np.testing.assert_array_equal(np.array(trajectory), expected)


def test_close_twice_does_not_raise():
    env = gym.make("ArmReach-v0")
    env.reset(seed=0)
    env.close()
    env.close()


def test_200_make_step_close_cycles_grow_memory_by_under_50_mb():
    def cycle() -> None:
        env = gym.make("ArmReach-v0")
        env.reset(seed=0)
        for _ in range(5):
            env.step(env.action_space.sample())
        env.close()

    for _ in range(10):
        cycle()
    before = rss_mb()
    for _ in range(200):
        cycle()
    assert rss_mb() - before < 50
