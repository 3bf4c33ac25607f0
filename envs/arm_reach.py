"""ArmReach-v0: move the end effector of a KUKA iiwa arm (PyBullet) to a random target point.

The arm is ``kuka_iiwa/model.urdf`` from ``pybullet_data`` with a fixed base at the origin and
gravity on; each env instance owns its own ``BulletClient`` (DIRECT, or GUI for
``render_mode="human"``), so several envs live independently in one process.

Action: ``Box(-1, 1, (7,), float32)``, a joint-position change of at most ``MAX_JOINT_DELTA``
(0.05 rad) per control step, added to the *measured* joint positions (so the observation is a full
state: no hidden motor target) and clipped to the joint limits. The joints follow by PyBullet's
``POSITION_CONTROL`` motors with the URDF's force limits (300 N m), i.e. by real dynamics. Values
outside [-1, 1] are clipped; NaN, inf or a wrong shape raise ``ValueError``.

Observation: ``Box(23,)`` float32, ``[q (7), dq (7), ee (3), target (3), target - ee (3)]``: joint
positions (bounds: the joint limits), joint velocities (bounds: the URDF's 10 rad/s limit),
end-effector position (the flange, link 6; bounds: the arm's reach), target position (bounds: the
target box) and the vector from end effector to target. Values are clipped into these bounds, which
only ever trims solver noise at a joint limit.

Reward: ``reward_type="dense"`` (default) gives ``-distance`` (m) from end effector to target;
``"sparse"`` gives -1 per step while the distance is above ``SUCCESS_DISTANCE`` (5 cm) and 0 within
it, as in Gymnasium-Robotics' FetchReach. ``info`` has ``is_success`` (bool, within 5 cm) and
``distance`` after every ``reset`` and ``step``.

Episode: the start pose is ``HOME_POSE`` plus uniform noise of +-``HOME_NOISE`` rad per joint; the
target is uniform in the box ``TARGET_LOW``..``TARGET_HIGH`` (x 0.35..0.75, y -0.3..0.3,
z 0.2..0.6 m: 0.4 x 0.6 x 0.4 m in front of the arm, every point reachable, checked by IK in the
tests). Like FetchReach the episode never terminates on success (``terminated`` is always False):
the policy must reach *and stay*, and Gymnasium's TimeLimit truncates it after the registered
``max_episode_steps`` (50 steps = 2 s). All randomness comes from ``self.np_random``, so
``reset(seed=s)`` followed by the same actions reproduces the observations bit for bit.

Timing choices: control at 25 Hz, 4 physics substeps of 10 ms each (the largest timestep and
fewest substeps that keep the motion smooth). At 10 ms the position motors (gain
``POSITION_GAIN``) follow a 0.05 rad command with under 0.02 rad of lag and settle within two
control steps; a control step costs ~0.1 ms, so PPO's 200k steps take ~20 s of simulation, where
1/240 s x 10 substeps would cost 2.5 times as much for the same task. With the lag a joint moves
up to ~0.04 rad (~2 cm at the flange) per step: an IK controller reaches any target in at most
~20 steps, well inside the 50-step limit, while a uniformly random policy almost never does.
"""

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet_data

from envs import reach
from envs.bullet import connect, pybullet, render

HOME_POSE = np.array([0.0, 0.4, 0.0, -1.6, 0.0, 1.1, 0.0])
HOME_NOISE = 0.05
TARGET_LOW = np.array([0.35, -0.3, 0.2])
TARGET_HIGH = np.array([0.75, 0.3, 0.6])
SUCCESS_DISTANCE = 0.05
MAX_JOINT_DELTA = 0.05
TIME_STEP = 0.01
SUBSTEPS = 4
# PyBullet's default gain (0.1) lags a 0.05 rad command by more than a control step at 10 ms.
POSITION_GAIN = 0.3
# The flange is 1.26 m from the base with the arm stretched upwards; 1.3 m bounds every pose.
REACH = 1.3


class ArmReachEnv(gym.Env[np.ndarray, np.ndarray]):
    """Reach a random point with the flange of a KUKA iiwa; see the module docstring."""

    metadata = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": round(1 / (TIME_STEP * SUBSTEPS)),
    }

    def __init__(
        self,
        render_mode: str | None = None,
        reward_type: str = "dense",
        width: int = 320,
        height: int = 240,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; use one of "
                f"{self.metadata['render_modes']} or None."
            )
        reach.check_reward_type(reward_type)
        self.render_mode = render_mode
        self.reward_type = reward_type
        self.width, self.height = width, height

        self.client = connect(render_mode)
        self.client.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.client.setTimeStep(TIME_STEP)
        self.client.setGravity(0, 0, -9.81)
        self.arm = self.client.loadURDF("kuka_iiwa/model.urdf", useFixedBase=True)
        self.joints = tuple(range(self.client.getNumJoints(self.arm)))
        self.ee_link = self.joints[-1]
        infos = [self.client.getJointInfo(self.arm, j) for j in self.joints]
        self.joint_lower = np.array([info[8] for info in infos])
        self.joint_upper = np.array([info[9] for info in infos])
        self._forces = [info[10] for info in infos]
        self._gains = [POSITION_GAIN] * len(self.joints)
        max_velocity = np.array([info[11] for info in infos])
        # Visual only (no collision shape, no mass): it shows the 5 cm success ball in renders
        # and cannot touch the arm.
        marker_shape = self.client.createVisualShape(
            pybullet.GEOM_SPHERE, radius=SUCCESS_DISTANCE, rgbaColor=[0.1, 0.8, 0.1, 0.6]
        )
        self.target_marker = self.client.createMultiBody(
            baseMass=0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=marker_shape
        )
        # BulletClient looks each function up and wraps it on every attribute access; bind the
        # per-step calls once.
        self._set_motors = self.client.setJointMotorControlArray
        self._step_simulation = self.client.stepSimulation
        self._get_joint_states = self.client.getJointStates
        self._get_link_state = self.client.getLinkState

        n = len(self.joints)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n,), np.float32)
        ee_bound = np.full(3, REACH)
        low = np.concatenate(
            [self.joint_lower, -max_velocity, -ee_bound, TARGET_LOW, TARGET_LOW - ee_bound]
        )
        high = np.concatenate(
            [self.joint_upper, max_velocity, ee_bound, TARGET_HIGH, TARGET_HIGH + ee_bound]
        )
        self.observation_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32))
        self._obs_low, self._obs_high = self.observation_space.low, self.observation_space.high

        self._view = self.client.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=[0.3, 0.0, 0.35],
            distance=1.3,
            yaw=50,
            pitch=-25,
            roll=0,
            upAxisIndex=2,
        )
        self._projection = self.client.computeProjectionMatrixFOV(
            fov=60, aspect=width / height, nearVal=0.05, farVal=5.0
        )
        self.target_pos = (TARGET_LOW + TARGET_HIGH) / 2
        self._target = tuple(self.target_pos)
        self._q = HOME_POSE.copy()
        self._last_frame_time = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        q = HOME_POSE + self.np_random.uniform(-HOME_NOISE, HOME_NOISE, HOME_POSE.shape)
        self.target_pos = self.np_random.uniform(TARGET_LOW, TARGET_HIGH)
        self._target = tuple(self.target_pos)
        for j in self.joints:
            self.client.resetJointState(self.arm, j, q[j], 0.0)
        # The motors keep their last targets across resets; aim them at the new start pose.
        self._set_motors(
            self.arm,
            self.joints,
            pybullet.POSITION_CONTROL,
            targetPositions=q,
            forces=self._forces,
            positionGains=self._gains,
        )
        self.client.resetBasePositionAndOrientation(
            self.target_marker, self.target_pos, (0.0, 0.0, 0.0, 1.0)
        )
        obs, info = self._observe()
        if self.render_mode == "human":
            self.render()
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        act = reach.checked_action(action, self.action_space.shape)
        q_target = reach.joint_targets(
            self._q, act, MAX_JOINT_DELTA, self.joint_lower, self.joint_upper
        )
        self._set_motors(
            self.arm,
            self.joints,
            pybullet.POSITION_CONTROL,
            targetPositions=q_target,
            forces=self._forces,
            positionGains=self._gains,
        )
        for _ in range(SUBSTEPS):
            self._step_simulation()
        obs, info = self._observe()
        reward = reach.reward(info["distance"], info["is_success"], self.reward_type)
        if self.render_mode == "human":
            self.render()
        return obs, reward, False, False, info

    def _observe(self) -> tuple[np.ndarray, dict[str, Any]]:
        pos, vel, _, _ = zip(*self._get_joint_states(self.arm, self.joints), strict=True)
        ee = self._get_link_state(self.arm, self.ee_link, computeForwardKinematics=1)[4]
        self._q = np.array(pos)
        obs = reach.observation(pos, vel, ee, self._target, self._obs_low, self._obs_high)
        distance = math.dist(ee, self._target)
        return obs, {"is_success": distance <= SUCCESS_DISTANCE, "distance": distance}

    def render(self) -> np.ndarray | None:
        return render(self)

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None
