"""ArmReach-v1's pose goal (docs/envs.md, "The pose goal") on every shipped arm: real PyBullet."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given
from hypothesis import strategies as st

import envs  # noqa: F401  (registers ArmReach-v1)
from envs import orientation
from envs.robots import PRESETS
from envs.tasks import ANGLE_WEIGHT, SUCCESS_ANGLE
from tests.test_env import run_episode

pytestmark = pytest.mark.fast
ARMS = sorted(PRESETS)
EPISODES = 50


@pytest.fixture(params=ARMS)
def env(request):
    env = gym.make("ArmReach-v1", robot=request.param, goal="pose")
    yield env
    env.close()


def unit_quaternions():
    return (
        st.lists(st.floats(-1, 1), min_size=4, max_size=4)
        .filter(lambda v: np.linalg.norm(v) > 0.1)
        .map(lambda v: tuple(np.divide(v, np.linalg.norm(v))))
    )


def about(axis, angle: float) -> tuple[float, float, float, float]:
    """The quaternion of a turn by `angle` about `axis`."""
    axis = np.divide(axis, np.linalg.norm(axis))
    return (*(math.sin(angle / 2) * axis), math.cos(angle / 2))


def test_the_error_is_zero_at_the_target_and_pi_for_a_half_turn():
    q = about([1, 2, 3], 0.7)
    assert orientation.error(q, q)[1] == pytest.approx(0, abs=1e-7)
    for axis in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 2]):
        rotvec, angle = orientation.error(about(axis, math.pi), (0, 0, 0, 1))
        assert angle == pytest.approx(math.pi)
        assert np.linalg.norm(rotvec) == pytest.approx(math.pi)
    # The rotation vector of a turn about z by 0.3 is (0, 0, 0.3), and is 0.3 rad long.
    rotvec, angle = orientation.error(about([0, 0, 1], 0.5), about([0, 0, 1], 0.2))
    np.testing.assert_allclose(rotvec, [0, 0, 0.3], atol=1e-12)
    assert angle == pytest.approx(0.3)


@given(unit_quaternions(), unit_quaternions())
def test_the_double_cover_gives_no_jump_q_and_minus_q_observe_the_same(ee, target):
    minus = tuple(-v for v in ee)
    obs, angle = orientation.observation(ee, target)
    obs_minus, angle_minus = orientation.observation(minus, tuple(-v for v in target))
    np.testing.assert_allclose(obs, obs_minus, atol=1e-9)
    assert angle == pytest.approx(angle_minus, abs=1e-9)
    # The angle is the one between the two frames: from the dot product of the quaternions.
    dot = min(1.0, abs(np.dot(ee, target)))
    assert angle == pytest.approx(2 * math.acos(dot), abs=1e-6)
    assert 0 <= angle <= math.pi + 1e-9
    low, high = orientation.bounds()
    assert ((obs >= low - 1e-9) & (obs <= high + 1e-9)).all()


def test_a_turn_through_where_pybullet_flips_the_quaternions_sign_is_smooth():
    # Turning the target about z past 2 pi: the quaternion changes sign at 2 pi, the frame does not.
    angles = np.linspace(2 * math.pi - 0.2, 2 * math.pi + 0.2, 41)
    rows = [orientation.observation((0, 0, 0, 1), about([0, 0, 1], a))[0] for a in angles]
    assert np.abs(np.diff(rows, axis=0)).max() < 0.02


def test_the_env_checker_passes_and_the_observation_adds_fifteen_orientation_entries(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    n = env.action_space.shape[0]
    assert env.observation_space.shape == (2 * n + 9 + orientation.SIZE,)
    obs, info = env.reset(seed=0)
    assert set(info) == {"is_success", "distance", "collision", "angle"}
    arm = env.unwrapped
    ee_link = arm.client.getLinkState(arm.body, arm.ee_link, computeForwardKinematics=1)
    expected, angle = orientation.observation(ee_link[5], arm.target_orn)
    np.testing.assert_allclose(obs[2 * n + 9 :], expected, atol=1e-6)
    assert info["angle"] == pytest.approx(angle)


def test_targets_lie_in_the_box_and_their_orientations_span_a_wide_range(env):
    arm = env.unwrapped
    home = arm.client.getLinkState(arm.body, arm.ee_link, computeForwardKinematics=1)[5]
    angles = []
    for seed in range(EPISODES):
        env.reset(seed=seed)
        assert (arm.target_low <= arm.target_pos).all()
        assert (arm.target_pos <= arm.target_high).all()
        angles.append(orientation.error(arm.target_orn, home)[1])
    # Not a near-constant orientation: the median target is turned by more than 0.5 rad.
    assert np.median(angles) > 0.5 and max(angles) > 1.0


def test_ik_controller_reaches_the_pose_on_at_least_95_percent_without_collisions(env):
    ik = env.unwrapped.ik_action
    steps = [run_episode(env, seed, lambda obs: ik()) for seed in range(EPISODES)]
    assert np.mean([episode[-1][4]["is_success"] for episode in steps]) >= 0.95
    assert not any(step[4]["collision"] for episode in steps for step in episode)


def test_uniformly_random_policy_succeeds_on_under_5_percent(env):
    env.action_space.seed(0)
    sample = env.action_space.sample
    final = [run_episode(env, s, lambda obs: sample())[-1] for s in range(EPISODES)]
    assert np.mean([step[4]["is_success"] for step in final]) < 0.05


def test_success_needs_both_the_distance_and_the_angle():
    env = gym.make("ArmReach-v1", goal="pose").unwrapped
    env.reset(seed=0)
    link = env.client.getLinkState(env.body, env.ee_link, computeForwardKinematics=1)
    here, turned = np.array(link[4]), about([0, 0, 1], 1.5 * SUCCESS_ANGLE)
    # Quaternion product: the tool's orientation turned about the world z.
    x, y, z, w = turned
    a, b, c, d = link[5]
    rotated = (w * a + x * d + y * c - z * b, w * b - x * c + y * d + z * a,
               w * c + x * b - y * a + z * d, w * d - x * a - y * b - z * c)  # fmt: skip
    cases = [
        (here, link[5], True),
        (here + [0, 0, 0.03], link[5], True),
        (here + [0, 0, 0.07], link[5], False),
        (here, rotated, False),
    ]
    for position, orn, success in cases:
        env.task.position, env.task.orientation = position, orn
        _, info = env._observe(False)
        assert info["is_success"] is success, (position - here, info)
    _, reward, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert info["angle"] == pytest.approx(1.5 * SUCCESS_ANGLE, abs=0.01)
    assert reward == pytest.approx(-(info["distance"] + ANGLE_WEIGHT * info["angle"]))
    env.close()


@pytest.mark.parametrize("robot", ARMS)
def test_rgb_array_render_draws_the_targets_frame_and_the_tools(robot):
    env = gym.make("ArmReach-v1", robot=robot, goal="pose", render_mode="rgb_array")
    env.reset(seed=0)
    arm = env.unwrapped
    frame = env.render().astype(int)
    for bar in arm.task.target_frame + arm.task.tool_frame:  # out of the camera's view
        arm.client.resetBasePositionAndOrientation(bar, [0, 0, -10], [0, 0, 0, 1])
    without = arm.client.getCameraImage(arm.width, arm.height, arm._view, arm._projection)[2]
    env.close()
    drawn = (frame != np.asarray(without)[..., :3]).any(axis=-1)
    # Where the frames are drawn, red, green and blue bars each cover pixels.
    for channel in range(3):
        others = np.delete(frame, channel, axis=-1).max(axis=-1)
        bar = drawn & (frame[..., channel] > 100) & (others < 0.5 * frame[..., channel])
        assert bar.sum() > 10, channel
