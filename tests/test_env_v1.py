"""ArmReach-v1 against its contract (docs/envs.md) for every shipped arm, and PyBullet's
start-up lines kept out of the output: real PyBullet, no mocks."""

import pathlib
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pybullet_data
import pytest
from gymnasium.utils.env_checker import check_env, env_render_passive_checker

import envs
from envs.arm_reach_v1 import COLLISION_PENALTY
from envs.robots import PRESETS
from envs.tasks import SUCCESS_DISTANCE
from tests.fixtures.arm_reach_v1_pose_pixels_record import EPISODES as RECORDED_POSE_PIXELS
from tests.fixtures.arm_reach_v1_pose_pixels_record import play as play_pose_pixels
from tests.fixtures.arm_reach_v1_record import EPISODES as RECORDED
from tests.fixtures.arm_reach_v1_record import play
from tests.test_env import rss_mb, run_episode

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARMS = sorted(PRESETS)
EPISODES = 50
JOINTS = {"franka_panda": 7, "kuka_iiwa": 7, "xarm6": 6}
# The walk-through arm of docs/envs.md: the xArm6 with its gripper, loaded from a path as a
# user would.
GRIPPER_XARM = str(pathlib.Path(pybullet_data.getDataPath()) / "xarm" / "xarm6_with_gripper.urdf")


@pytest.fixture(params=ARMS)
def env(request):
    env = gym.make("ArmReach-v1", robot=request.param)
    yield env
    env.close()


def rollout(env: gym.Env, seed: int, actions: np.ndarray) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    return np.array([obs] + [env.step(act)[0] for act in actions])


def success_rate(env: gym.Env, policy) -> float:
    return np.mean([run_episode(env, s, policy)[-1][4]["is_success"] for s in range(EPISODES)])


def test_import_envs_registers_v1_with_v0s_time_limit_and_kuka_as_the_default_arm():
    assert gym.spec("ArmReach-v1").max_episode_steps == envs.MAX_EPISODE_STEPS == 50
    env = gym.make("ArmReach-v1")
    assert env.unwrapped.arm.urdf.endswith("kuka_iiwa/model.urdf")
    env.close()


def test_the_position_goal_matches_the_recording_made_before_the_pose_goal_bit_for_bit():
    fixture = np.load(ROOT / "tests" / "fixtures" / "arm_reach_v1_trajectories.npz")
    for i, (robot, kwargs, seed, _) in enumerate(RECORDED):
        actions = fixture[f"{i}/action"]
        observed = play(robot, kwargs, seed, lambda t, env, a=actions: a[t])
        for key, values in observed.items():
            np.testing.assert_array_equal(values, fixture[f"{i}/{key}"], err_msg=f"{key}, {i}")
    assert fixture["3/is_success"].any() and not fixture["0/is_success"].any()


def test_the_pose_goal_and_pixels_match_their_recording_bit_for_bit():
    fixture = np.load(ROOT / "tests" / "fixtures" / "arm_reach_v1_pose_pixels_trajectories.npz")
    for i, (robot, kwargs, seed, _) in enumerate(RECORDED_POSE_PIXELS):
        actions = fixture[f"{i}/action"]
        observed = play_pose_pixels(robot, kwargs, seed, lambda t, env, a=actions: a[t])
        recorded = {key.split("/", 1)[1] for key in fixture.files if key.startswith(f"{i}/")}
        assert set(observed) == recorded, i
        for key, values in observed.items():
            np.testing.assert_array_equal(values, fixture[f"{i}/{key}"], err_msg=f"{key}, {i}")
    # What the episodes exist to pin happens in them: collisions, a reached pose, images.
    assert fixture["3/info/collision"].any() and fixture["6/info/collision"].any()
    assert fixture["4/info/is_success"].any() and "4/info/angle" in fixture
    assert "6/obs/pixels" in fixture and "6/obs/depth" in fixture and "6/info/state" in fixture


def test_making_v0_gives_no_upgrade_warning_now_that_v1_exists():
    script = "import gymnasium as gym, envs; gym.make('ArmReach-v0').close(); print('ok')"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert result.stdout == "ok\n" and "out of date" not in result.stderr, result.stderr


def test_gymnasium_env_checker_passes_without_warnings(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)


def test_one_action_per_controlled_joint_and_v0s_observation_layout(env):
    arm = env.unwrapped
    n = JOINTS[arm.robot]
    assert len(arm.joints) == n
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (n,), np.float32)
    space = env.observation_space
    assert space.shape == (2 * n + 9,) and space.dtype == np.float32
    assert np.isfinite(space.low).all() and np.isfinite(space.high).all()
    obs, info = env.reset(seed=3)
    client = arm.client
    states = client.getJointStates(arm.body, arm.joints)
    ee = client.getLinkState(arm.body, arm.ee_link, computeForwardKinematics=1)[4]
    expected = [s[0] for s in states] + [s[1] for s in states] + list(ee)
    expected += list(arm.target_pos) + list(arm.target_pos - np.array(ee))
    np.testing.assert_allclose(obs, expected, rtol=0, atol=1e-6)
    assert set(info) == {"is_success", "distance", "collision"}
    for _ in range(60):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert space.contains(obs) and isinstance(info["collision"], bool)
        if truncated:
            env.reset()


def test_panda_fingers_are_not_controlled_and_stay_open():
    env = gym.make("ArmReach-v1", robot="franka_panda")
    arm = env.unwrapped
    names = [arm.arm.link_names[j] for j in arm.joints]
    assert names == [f"panda_link{i}" for i in range(1, 8)]
    assert arm.arm.link_names[arm.ee_link] == "panda_grasptarget"
    run_episode(env, 0, lambda obs: env.action_space.sample())
    fingers = [s[0] for s in arm.client.getJointStates(arm.body, arm.arm.held_joints)]
    env.close()
    np.testing.assert_allclose(fingers, [0.02, 0.02], atol=1e-3)


def test_same_seed_and_actions_reproduce_observations_bit_for_bit(env):
    n = env.action_space.shape[0]
    actions = np.random.default_rng(0).uniform(-1, 1, (40, n)).astype(np.float32)
    first = rollout(env, 7, actions)
    rollout(env, 8, actions[::-1])  # a different episode in between must leave no trace
    again = rollout(env, 7, actions)
    fresh_env = gym.make("ArmReach-v1", robot=env.unwrapped.robot)
    fresh = rollout(fresh_env, 7, actions)
    fresh_env.close()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, fresh)


def test_home_pose_touches_neither_floor_nor_itself_and_targets_lie_above_the_floor(env):
    arm = env.unwrapped
    for seed in range(20):
        _, info = env.reset(seed=seed)
        assert not info["collision"]
        assert arm.target_low[2] <= arm.target_pos[2] <= arm.target_high[2]
    assert arm.target_low[2] >= 0.1
    size = arm.target_high - arm.target_low
    assert (size >= [0.3, 0.5, 0.3]).all()


def test_ik_controller_succeeds_on_at_least_95_percent_of_episodes_without_collisions(env):
    arm = env.unwrapped
    collisions = 0

    def ik(obs):
        return arm.ik_action()

    successes = []
    for seed in range(EPISODES):
        steps = run_episode(env, seed, ik)
        successes.append(steps[-1][4]["is_success"])
        collisions += sum(info["collision"] for *_, info in steps)
    assert np.mean(successes) >= 0.95
    assert collisions == 0


def test_uniformly_random_policy_succeeds_on_under_10_percent_of_episodes(env):
    env.action_space.seed(0)
    assert success_rate(env, lambda obs: env.action_space.sample()) < 0.10


def drive_into_floor(env: gym.Env, steps: int = 100) -> list[tuple]:
    """Steer the end effector by IK at a point 20 cm under the floor, in front of the arm."""
    arm = env.unwrapped
    env.reset(seed=0)
    arm.task.position = np.array([arm.target_high[0], 0.0, -0.2])
    trajectory = []
    for _ in range(steps):
        trajectory.append(env.step(arm.ik_action()))
        if trajectory[-1][2]:
            break
    return trajectory


@pytest.mark.parametrize("robot", ARMS)
def test_a_scripted_motion_into_the_floor_reports_a_collision_and_pays_the_penalty(robot):
    env = gym.make("ArmReach-v1", robot=robot).unwrapped  # no time limit: push until contact
    trajectory = drive_into_floor(env)
    arm, floor = env.arm, env.floor
    touching = env.client.getContactPoints(bodyA=arm.body, bodyB=floor)
    env.close()
    collided = [info["collision"] for *_, info in trajectory]
    assert not collided[0] and any(collided)
    assert touching  # the floor is what the arm touches
    for _, reward, terminated, _, info in trajectory:
        expected = -info["distance"] - (COLLISION_PENALTY if info["collision"] else 0.0)
        assert reward == pytest.approx(expected)
        assert not terminated


def test_terminate_on_collision_ends_the_episode_at_the_first_contact():
    env = gym.make("ArmReach-v1", robot="xarm6", terminate_on_collision=True)
    env.unwrapped.terminate_on_collision = True
    trajectory = drive_into_floor(env.unwrapped)
    env.close()
    assert trajectory[-1][2] and trajectory[-1][4]["collision"]
    assert not any(info["collision"] for *_, info in trajectory[:-1])


@pytest.mark.parametrize("robot", ARMS)
def test_a_pose_where_two_links_overlap_reports_a_self_collision(robot):
    env = gym.make("ArmReach-v1", robot=robot, collision_penalty=0.0).unwrapped
    env.reset(seed=0)
    client, body = env.client, env.body
    rng = np.random.default_rng(0)
    for _ in range(2000):  # random poses until one folds the arm into itself
        q = rng.uniform(env.joint_lower, env.joint_upper)
        env.arm.reset_joints(q)
        client.performCollisionDetection()
        contacts = env.arm.contacts()
        if contacts and all(c[2] == body for c in contacts):
            break
    else:
        pytest.fail(f"no self-colliding pose of {robot} in 2000 random poses")
    env.arm.q = q  # the motors hold the pose: the links stay in contact
    _, reward, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    env.close()
    assert info["collision"] and reward == -info["distance"]


def test_collision_penalty_default_and_zero():
    assert COLLISION_PENALTY > 0 and SUCCESS_DISTANCE == 0.05
    env = gym.make("ArmReach-v1", robot="kuka_iiwa", collision_penalty=0.0).unwrapped
    trajectory = drive_into_floor(env)
    env.close()
    assert any(info["collision"] for *_, info in trajectory)
    assert all(reward == -info["distance"] for _, reward, _, _, info in trajectory)


def test_rgb_array_render_shows_each_arm_on_the_floor():
    for robot in ARMS:
        env = gym.make("ArmReach-v1", robot=robot, render_mode="rgb_array", width=160, height=120)
        env_render_passive_checker(env.unwrapped)
        env.reset(seed=0)
        frame = env.render()
        env.close()
        assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
        bottom = frame[-10:].reshape(-1, 3).astype(int)
        # The floor's blue checker squares fill the bottom of the frame (nothing else is blue).
        assert ((bottom[:, 2] - bottom[:, 0]) > 40).mean() > 0.2, robot
        # The arm is in the middle: grey, orange or coloured links, not only floor and sky.
        assert frame[20:100, 40:120].std() > 30, robot


def test_kwargs_as_parsed_from_json_override_the_defaults():
    env = gym.make(
        "ArmReach-v1",
        robot="franka_panda",
        home_pose=[0, -0.5, 0, -2.0, 0, 1.5, 0.8],
        target_low=[0.3, -0.1, 0.3],
        target_high=[0.4, 0.1, 0.4],
        success_distance=0.1,
        reward_type="sparse",
    )
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[:7], [0, -0.5, 0, -2.0, 0, 1.5, 0.8], atol=0.05)
    assert (obs[17:20] >= [0.3, -0.1, 0.3]).all() and (obs[17:20] <= [0.4, 0.1, 0.4]).all()
    steps = run_episode(env, 0, lambda obs: env.unwrapped.ik_action())
    env.close()
    assert steps[-1][1] == 0.0 and steps[-1][4]["is_success"]


def test_a_urdf_path_with_a_gripper_controls_the_arm_joints_only_and_is_reachable():
    env = gym.make("ArmReach-v1", robot=GRIPPER_XARM, ee_link="xarm_gripper_base_link")
    arm = env.unwrapped
    assert [arm.arm.link_names[j] for j in arm.joints] == [f"link{i}" for i in range(1, 7)]
    assert len(arm.arm.held_joints) == 6  # the gripper's knuckles and fingers
    assert arm.target_low[2] > 0
    successes = [
        run_episode(env, s, lambda obs: arm.ik_action())[-1][4]["is_success"] for s in range(20)
    ]
    env.close()
    assert np.mean(successes) >= 0.95


def test_a_urdf_path_without_ee_link_ends_at_its_last_link():
    env = gym.make(
        "ArmReach-v1", robot=str(pathlib.Path(pybullet_data.getDataPath()) / PRESETS["xarm6"].urdf)
    )
    assert env.unwrapped.arm.link_names[env.unwrapped.ee_link] == "link6"
    assert env.action_space.shape == (6,)
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"robot": "/nonexistent.urdf"}, r"robot='/nonexistent.urdf' is neither a shipped arm"),
        ({"robot": "ur5"}, r"use one of \['franka_panda', 'kuka_iiwa', 'xarm6'\]"),
        ({"robot": "xarm6", "ee_link": "flange"}, r"ee_link='flange' is not a link.*'link6'"),
        ({"robot": "xarm6", "ee_link": "link_base"}, r"no revolute or prismatic joint"),
        ({"robot": "xarm6", "home_pose": [0, 0]}, r"must hold 6 finite values"),
        ({"target_low": [0.3, 0, -0.1]}, r"above the floor"),
        ({"collision_penalty": -1}, r"collision_penalty=-1"),
        ({"reward_type": "shaped"}, r"reward_type='shaped'"),
        ({"robot": "kuka_iiwa", "home_pose": [0, 2.0, 0, 0, 0, 0, 0]}, r"touch; pass another"),
        ({"goal": "orientation"}, r"goal='orientation' is unknown; use 'position'"),
        ({"goal": "pose", "success_angle": 0}, r"success_angle=0 must be in \(0, pi\]"),
        ({"goal": "pose", "success_angle": 3.2}, r"success_angle=3.2 must be in \(0, pi\]"),
        ({"success_angle": float("nan")}, r"success_angle=nan must be in"),
        (
            {"goal": "pose", "target_low": [2, 2, 0.5], "target_high": [2.1, 2.1, 0.6]},
            r"goal='pose': no joint offset .* without a contact",
        ),
    ],
)
def test_bad_arguments_raise_one_line_value_errors_that_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        gym.make("ArmReach-v1", **kwargs)
    assert "\n" not in str(error.value)


def test_a_file_that_is_not_a_urdf_raises_value_error(tmp_path):
    bad = tmp_path / "arm.urdf"
    bad.write_text("<robot name='x'><link name='a'></robot>")
    with pytest.raises(ValueError, match="could not load"):
        gym.make("ArmReach-v1", robot=str(bad))


def test_200_make_step_close_cycles_grow_memory_by_under_50_mb():
    def cycle(robot: str) -> None:
        env = gym.make("ArmReach-v1", robot=robot)
        env.reset(seed=0)
        for _ in range(5):
            env.step(env.action_space.sample())
        env.close()

    for robot in ARMS:
        cycle(robot)
    before = rss_mb()
    for i in range(200):
        cycle(ARMS[i % len(ARMS)])
    assert rss_mb() - before < 50


QUIET_SCRIPT = """
import gymnasium as gym
import envs
for kwargs in ({"id": "ArmReach-v0"}, {"id": "ArmReach-v1", "robot": "franka_panda"}):
    env = gym.make(**kwargs)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
print("made and stepped")
gym.make("ArmReach-v1", robot="/nonexistent.urdf")
"""


def test_pybullet_start_up_lines_never_reach_the_terminal_while_real_errors_do():
    result = subprocess.run(
        [sys.executable, "-c", QUIET_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert "build time" not in output and "argv[0]" not in output, output
    assert result.stdout == "made and stepped\n"
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: robot='/nonexistent.urdf'") and "URDF" in last
