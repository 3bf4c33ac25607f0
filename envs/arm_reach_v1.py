"""ArmReach-v1: ArmReach-v0's task for any fixed-base arm, standing on a floor, aware of collisions.

``gym.make("ArmReach-v1", robot="kuka_iiwa" | "franka_panda" | "xarm6" | "path/to/arm.urdf",
ee_link=None, ...)``. The arm (envs/robots.py) stands with its base at the origin on a floor plane
(``plane.urdf``, z = 0), with self-collision on; each env owns its own ``BulletClient``.

Action: ``Box(-1, 1, (n,))``, one entry per controlled joint (the movable joints from the base to
the end-effector link, fingers excluded): as in v0, a change of at most ``MAX_JOINT_DELTA`` (0.05
rad, or m for a prismatic joint) per control step added to the measured joint positions, clipped
to the joint limits, followed by position motors with the URDF's force limits. Control at 25 Hz,
4 substeps of 10 ms, as v0.

Observation: ``Box(2n + 9,)`` float32, v0's layout ``[q, dq, ee, target, target - ee]`` with
finite bounds (joint limits, the URDF's velocity limits, the arm's reach, the target box).

Reward: ``-distance`` (dense) or -1/0 (``reward_type="sparse"``), as v0, minus
``collision_penalty`` on every step with a collision. ``info`` has ``is_success`` (within
``success_distance``, 5 cm), ``distance`` and ``collision`` after every ``reset`` and ``step``.

Pose goal (``goal="pose"``; docs/envs.md, "The pose goal"): the target is a position and an
orientation, the end effector's pose at the home pose plus a uniform offset of up to
``POSE_JOINT_RANGE`` per joint, kept when in the target box and touching nothing. The observation
adds ``orientation.SIZE`` entries (envs/orientation.py: both orientations as two rotation-matrix
columns, the error as a rotation vector); the dense reward is ``-(distance + ANGLE_WEIGHT *
angle)``; success also needs ``info["angle"]`` (rad) within ``success_angle``.

Collision: any contact, at any of the step's substeps, between the arm and the floor or between two
links of the arm. Not counted: links joined by a joint or welded together by fixed joints (their
meshes often overlap by construction), and the base (with what is welded to it) on the floor it is
mounted to. ``terminate_on_collision=True`` ends the episode (``terminated``) at the first one.
Why the default penalty is 0.5: see ``COLLISION_PENALTY``.

Per-arm defaults (``envs.robots.PRESETS``, each overridable): home pose, target box, end-effector
link. For a URDF of your own the target box scales with the arm's reach (the summed distances
between the joints from base to end effector, R): x 0.3R..0.6R, y -0.25R..0.25R, z 0.15R..0.45R,
and the home pose is PyBullet's inverse kinematics for the box's centre; pass ``home_pose``,
``target_low`` and ``target_high`` to choose your own (docs/envs.md, "Your own arm").
"""

import itertools
import math
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet_data

from envs import orientation, reach
from envs.bullet import connect, pybullet, render
from envs.camera import Camera, box_corners
from envs.robots import PRESETS, load_arm

HOME_NOISE = 0.05
SUCCESS_DISTANCE = 0.05
MAX_JOINT_DELTA = 0.05
TIME_STEP = 0.01
SUBSTEPS = 4
# PyBullet's default gain (0.1) lags a 0.05 rad command by more than a control step at 10 ms.
POSITION_GAIN = 0.3
# Chosen by measurement (docs/envs.md, "ArmReach-v1"; Panda, seed 0, 200k steps of PPO's defaults):
# 0, 0.5 and 2 all reached 95% evaluation success at 120k steps; on 100 unseen episodes the
# policy trained with 0 collided in 8, with 0.5 in 2, with 2 in 3 (and succeeded on 95%, not 98%).
COLLISION_PENALTY = 0.5
GOALS = ("position", "pose")
OBS_MODES = ("state", "pixels")
# obs_mode="pixels": the image's side in pixels (docs/envs.md, "Pixels": what 64 costs and buys).
IMAGE_SIZE = 64
# Chosen by measurement (docs/envs.md, "The pose goal").
SUCCESS_ANGLE = 0.1
# A pose target is the end effector's pose at the home pose plus a uniform offset of up to this
# much per joint (rad, or m), kept when the position lies in the target box and nothing touches.
POSE_JOINT_RANGE = 1.0
# Metres of position error that cost as much as one radian of orientation error in the dense
# reward: a 0.2 rad error weighs as much as 10 cm.
ANGLE_WEIGHT = 0.5
POSE_TRIES = 10_000
# Target box for a URDF without a preset, in units of the arm's reach (module docstring).
CUSTOM_TARGET_LOW = (0.3, -0.25, 0.15)
CUSTOM_TARGET_HIGH = (0.6, 0.25, 0.45)


class ArmReachV1Env(gym.Env[np.ndarray, np.ndarray]):
    """Reach a random point with any fixed-base arm on a floor; see the module docstring."""

    metadata = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": round(1 / (TIME_STEP * SUBSTEPS)),
    }

    def __init__(
        self,
        robot: str = "kuka_iiwa",
        ee_link: str | None = None,
        render_mode: str | None = None,
        reward_type: str = "dense",
        collision_penalty: float = COLLISION_PENALTY,
        terminate_on_collision: bool = False,
        home_pose: tuple[float, ...] | None = None,
        target_low: tuple[float, float, float] | None = None,
        target_high: tuple[float, float, float] | None = None,
        success_distance: float = SUCCESS_DISTANCE,
        goal: str = "position",
        success_angle: float = SUCCESS_ANGLE,
        self_collision: bool = True,
        width: int = 320,
        height: int = 240,
        obs_mode: str = "state",
        image_size: int = IMAGE_SIZE,
        camera_position: tuple[float, float, float] | None = None,
        camera_target: tuple[float, float, float] | None = None,
        camera_fov: float | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; use one of "
                f"{self.metadata['render_modes']} or None."
            )
        reach.check_reward_type(reward_type)
        if not (math.isfinite(collision_penalty) and collision_penalty >= 0):
            raise ValueError(
                f"collision_penalty={collision_penalty!r} must be a finite number >= 0 (0 turns "
                "the penalty off; info['collision'] is reported either way)."
            )
        if not success_distance > 0:
            raise ValueError(f"success_distance={success_distance!r} must be > 0 (metres).")
        if goal not in GOALS:
            raise ValueError(
                f"goal={goal!r} is unknown; use 'position' (reach a point) or 'pose' (reach a "
                "point with the end effector turned to a given orientation)."
            )
        if not 0 < success_angle <= math.pi:
            raise ValueError(
                f"success_angle={success_angle!r} must be in (0, pi] (radians between the end "
                "effector's orientation and the target's)."
            )
        check_camera(obs_mode, goal, image_size, camera_position, camera_target, camera_fov)
        if not isinstance(robot, str):
            raise ValueError(
                f"robot={robot!r} must be a string: one of {sorted(PRESETS)} or a URDF path."
            )
        self.robot = robot
        self.render_mode = render_mode
        self.reward_type = reward_type
        self.collision_penalty = float(collision_penalty)
        self.terminate_on_collision = bool(terminate_on_collision)
        self.success_distance = float(success_distance)
        self.goal, self.success_angle = goal, float(success_angle)
        self.width, self.height = width, height
        self.obs_mode = obs_mode
        self.camera: Camera | None = None
        camera = (image_size, camera_position, camera_target, camera_fov)
        preset = PRESETS.get(robot)

        self.client = connect(render_mode)
        try:
            self.client.setAdditionalSearchPath(pybullet_data.getDataPath())
            self.client.setTimeStep(TIME_STEP)
            self.client.setGravity(0, 0, -9.81)
            self.floor = self.client.loadURDF("plane.urdf")
            if ee_link is None and preset is not None:
                ee_link = preset.ee_link
            self.arm = load_arm(self.client, robot, ee_link, self_collision, self.floor)
            self._setup(robot, preset, home_pose, target_low, target_high)
            if obs_mode == "pixels":
                self._setup_camera(*camera)
        except BaseException:
            self.close()
            raise

    def _setup(self, robot, preset, home_pose, target_low, target_high) -> None:
        arm, client = self.arm, self.client
        self.body, self.ee_link, self.joints = arm.body, arm.ee_link, arm.joints
        self.joint_lower, self.joint_upper = arm.lower, arm.upper
        n = len(self.joints)
        self._hold_joints()
        self.reach = self._chain_length()

        if target_low is None:
            target_low = preset.target_low if preset else np.multiply(CUSTOM_TARGET_LOW, self.reach)
        if target_high is None:
            target_high = (
                preset.target_high if preset else np.multiply(CUSTOM_TARGET_HIGH, self.reach)
            )
        self.target_low, self.target_high = check_box(target_low, target_high)
        if home_pose is None and preset is not None and len(preset.home_pose) == n:
            home_pose = preset.home_pose
        if home_pose is None:
            home_pose = self._pose_reaching((self.target_low + self.target_high) / 2, robot)
        self.home_pose = np.asarray(home_pose, dtype=np.float64)
        if self.home_pose.shape != (n,) or not np.isfinite(self.home_pose).all():
            raise ValueError(
                f"home_pose={list(home_pose)} must hold {n} finite values, one per controlled "
                f"joint ({[arm.link_names[j] for j in self.joints]} move)."
            )
        self.home_pose = self.home_pose.clip(self.joint_lower, self.joint_upper)
        self._reset_joints(self.home_pose)
        self._get_contact_points = client.getContactPoints
        client.performCollisionDetection()
        contacts = self._contacts()
        if contacts:
            raise ValueError(
                f"robot={robot!r}: at the home pose {np.round(self.home_pose, 3).tolist()} "
                f"{describe(contacts[0], arm.link_names, self.floor)} touch; pass another "
                "home_pose=[...] (or self_collision=False if the URDF's meshes overlap)."
            )

        self._forces = list(arm.forces)
        self._gains = [POSITION_GAIN] * n
        marker_shape = client.createVisualShape(
            pybullet.GEOM_SPHERE, radius=self.success_distance, rgbaColor=[0.1, 0.8, 0.1, 0.6]
        )
        # Visual only (no collision shape, no mass): it shows the success ball in renders.
        self.target_marker = client.createMultiBody(
            baseMass=0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=marker_shape
        )
        # BulletClient looks each function up and wraps it on every attribute access; bind the
        # per-step calls once.
        self._set_motors = client.setJointMotorControlArray
        self._step_simulation = client.stepSimulation
        self._get_joint_states = client.getJointStates
        self._get_link_state = client.getLinkState

        self.action_space = gym.spaces.Box(-1.0, 1.0, (n,), np.float32)
        bound = np.full(3, self.reach)
        low = np.concatenate(
            [
                self.joint_lower,
                -arm.max_velocity,
                -bound,
                self.target_low,
                self.target_low - bound,
            ]
        )
        high = np.concatenate(
            [
                self.joint_upper,
                arm.max_velocity,
                bound,
                self.target_high,
                self.target_high + bound,
            ]
        )
        # v0's layout is clipped to its bounds by reach.observation, the pose's part here.
        self._position_size = len(low)
        if self.goal == "pose":
            low = np.concatenate([low, orientation.bounds()[0]])
            high = np.concatenate([high, orientation.bounds()[1]])
        self.observation_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32))
        self._obs_low, self._obs_high = self.observation_space.low, self.observation_space.high

        center = (self.target_low + self.target_high) / 2
        # Framed on the target box, which the arm leans over: the whole arm, the box and the
        # floor around the base stay in view for every shipped arm.
        self._view = client.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=[0.5 * center[0], 0.0, center[2]],
            distance=2.2 * max(center[0], center[2]),
            yaw=50,
            pitch=-25,
            roll=0,
            upAxisIndex=2,
        )
        self._projection = client.computeProjectionMatrixFOV(
            fov=60, aspect=self.width / self.height, nearVal=0.05, farVal=5.0 * self.reach
        )
        self.target_pos = center
        self._target = tuple(center)
        self.target_orn = None
        if self.goal == "pose":
            self.target_orn = self._get_link_state(self.body, self.ee_link, 0, 1)[5]
            self.target_frame = frame_marker(client, 4 * self.success_distance)
            self.tool_frame = frame_marker(client, 4 * self.success_distance, thickness=0.03)
            if self._draw_pose() is None:
                raise ValueError(self._no_pose_message(robot))
            self._reset_joints(self.home_pose)
        self._q = self.home_pose.copy()
        self._last_frame_time = 0.0

    def _setup_camera(self, image_size, position, target, fov) -> None:
        """obs_mode="pixels": the camera, and the Dict observation space of its image and the
        arm's proprioception (joint positions and velocities, end-effector position)."""
        self.camera = Camera(self, image_size, position, target, fov)
        corners = box_corners(self.target_low, self.target_high)
        if len(unseen := self.camera.outside(corners)):
            raise ValueError(
                f"the camera at {np.round(self.camera.position, 3).tolist()} looking at "
                f"{np.round(self.camera.look_at, 3).tolist()} with a {self.camera.fov:g} degree "
                f"field of view does not see the target box's corner "
                f"{np.round(unseen[0], 3).tolist()}; move it back, widen camera_fov, or leave "
                "camera_position, camera_target and camera_fov out for the default view."
            )
        self.state_space = self.observation_space
        proprio = slice(0, 2 * len(self.joints) + 3)
        self._proprio = proprio
        self.observation_space = gym.spaces.Dict(
            pixels=gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            state=gym.spaces.Box(self._obs_low[proprio], self._obs_high[proprio]),
        )

    def _hold_joints(self) -> None:
        arm = self.arm
        for j, q in zip(arm.held_joints, arm.held_positions, strict=True):
            self.client.resetJointState(arm.body, j, q, 0.0)
        if arm.held_joints:
            self.client.setJointMotorControlArray(
                arm.body,
                arm.held_joints,
                pybullet.POSITION_CONTROL,
                targetPositions=arm.held_positions,
                forces=arm.held_forces,
            )

    def _chain_length(self) -> float:
        """R: the summed distances between the joints from the base to the end effector, which
        bounds how far the end effector gets from the base in any pose (plus 5 cm of margin)."""
        chain = [j for j in range(self.ee_link + 1) if j in self._ancestors(self.ee_link)]
        points = [self.client.getBasePositionAndOrientation(self.body)[0]]
        points += [self.client.getLinkState(self.body, j)[4] for j in chain]
        return sum(math.dist(a, b) for a, b in itertools.pairwise(points)) + 0.05

    def _ancestors(self, link: int) -> set[int]:
        links = set()
        while link != -1:
            links.add(link)
            link = self.client.getJointInfo(self.body, link)[16]
        return links

    def _pose_reaching(self, point: np.ndarray, robot: str) -> np.ndarray:
        """Joint positions that put the end effector on `point`, by repeated IK from mid-range."""
        mid = np.where(
            (self.joint_lower <= 0) & (self.joint_upper >= 0),
            0.0,
            (self.joint_lower + self.joint_upper) / 2,
        )
        self._reset_joints(mid)
        for _ in range(20):  # IK from the pose it reached, until it converges
            q = self._ik(point)
            self._reset_joints(q)
        ee = self.client.getLinkState(self.body, self.ee_link, computeForwardKinematics=1)[4]
        if math.dist(ee, point) > 0.02:
            raise ValueError(
                f"robot={robot!r}: the end effector cannot reach the centre of the default "
                f"target box {np.round(point, 3).tolist()}; pass target_low=[x, y, z], "
                "target_high=[x, y, z] (a box it reaches) and home_pose=[...]."
            )
        return q

    def _draw_pose(self) -> tuple[np.ndarray, tuple] | None:
        """A reachable target pose: the end effector's position and orientation at the home pose
        plus a random offset per joint, kept when in the target box and touching nothing; None if
        POSE_TRIES draws found none. Leaves the joints where the last draw put them."""
        n = len(self.joints)
        for _ in range(POSE_TRIES):
            offset = self.np_random.uniform(-POSE_JOINT_RANGE, POSE_JOINT_RANGE, n)
            self._reset_joints((self.home_pose + offset).clip(self.joint_lower, self.joint_upper))
            state = self._get_link_state(self.body, self.ee_link, 0, 1)
            pos = np.array(state[4])
            if (pos >= self.target_low).all() and (pos <= self.target_high).all():
                self.client.performCollisionDetection()
                if not self._contacts():
                    return pos, state[5]
        return None

    def _no_pose_message(self, robot: str) -> str:
        return (
            f"robot={robot!r}, goal='pose': no joint offset of up to {POSE_JOINT_RANGE} from the "
            f"home pose puts the end effector in the target box {self.target_low.tolist()}.."
            f"{self.target_high.tolist()} without a contact ({POSE_TRIES} draws); pass a box "
            "around the end effector's home position (target_low=[x, y, z], target_high=[x, y, "
            "z]) or another home_pose=[...]."
        )

    def _ik(self, point, orn=None) -> np.ndarray:
        """PyBullet's IK for `point` (and orientation `orn`, if given), for the controlled joints,
        within their limits."""
        q = self.client.calculateInverseKinematics(
            self.body,
            self.ee_link,
            list(point),
            *([] if orn is None else [list(orn)]),
            maxNumIterations=100,
            residualThreshold=1e-5,
        )
        return np.array(q)[self.arm.ik_indices].clip(self.joint_lower, self.joint_upper)

    def ik_action(self) -> np.ndarray:
        """A scripted baseline: the action that moves the joints towards PyBullet's inverse
        kinematics for the current target (pose). Used by the tests to show every target is
        reachable."""
        q_goal = self._ik(self.target_pos, self.target_orn)
        return np.clip((q_goal - self._q) / MAX_JOINT_DELTA, -1, 1).astype(np.float32)

    def _reset_joints(self, q: np.ndarray) -> None:
        for j, qj in zip(self.joints, q, strict=True):
            self.client.resetJointState(self.body, j, qj, 0.0)

    def _contacts(self) -> list[tuple]:
        """Contact points of the arm with the floor or itself, where the shapes overlap."""
        return [c for c in self._get_contact_points(bodyA=self.body) if c[8] < 0]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        noise = self.np_random.uniform(-HOME_NOISE, HOME_NOISE, self.home_pose.shape)
        q = (self.home_pose + noise).clip(self.joint_lower, self.joint_upper)
        if self.goal == "pose":
            pose = self._draw_pose()
            if pose is None:
                raise ValueError(self._no_pose_message(self.robot))
            self.target_pos, self.target_orn = pose
            place_frame(self.client, self.target_frame, self.target_pos, self.target_orn)
        else:
            self.target_pos = self.np_random.uniform(self.target_low, self.target_high)
        self._target = tuple(self.target_pos)
        self._reset_joints(q)
        self._hold_joints()
        # The motors keep their last targets across resets; aim them at the new start pose.
        self._set_motors(
            self.body,
            self.joints,
            pybullet.POSITION_CONTROL,
            targetPositions=q,
            forces=self._forces,
            positionGains=self._gains,
        )
        self.client.resetBasePositionAndOrientation(
            self.target_marker, self.target_pos, (0.0, 0.0, 0.0, 1.0)
        )
        self.client.performCollisionDetection()
        obs, info = self._observe(bool(self._contacts()))
        if self.render_mode == "human":
            self.render()
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        act = reach.checked_action(action, self.action_space.shape)
        q_target = reach.joint_targets(
            self._q, act, MAX_JOINT_DELTA, self.joint_lower, self.joint_upper
        )
        self._set_motors(
            self.body,
            self.joints,
            pybullet.POSITION_CONTROL,
            targetPositions=q_target,
            forces=self._forces,
            positionGains=self._gains,
        )
        collision = False
        for _ in range(SUBSTEPS):
            self._step_simulation()
            # A contact in any substep counts: a fast swing can touch and leave within a step.
            collision = collision or bool(self._contacts())
        obs, info = self._observe(collision)
        error = info["distance"]
        if self.goal == "pose":
            error += ANGLE_WEIGHT * info["angle"]
        reward = reach.reward(error, info["is_success"], self.reward_type)
        if collision:
            reward -= self.collision_penalty
        if self.render_mode == "human":
            self.render()
        return obs, reward, collision and self.terminate_on_collision, False, info

    def _observe(self, collision: bool) -> tuple[np.ndarray, dict[str, Any]]:
        pos, vel, _, _ = zip(*self._get_joint_states(self.body, self.joints), strict=True)
        link = self._get_link_state(self.body, self.ee_link, computeForwardKinematics=1)
        ee, k = link[4], self._position_size
        self._q = np.array(pos)
        obs = reach.observation(pos, vel, ee, self._target, self._obs_low[:k], self._obs_high[:k])
        distance = math.dist(ee, self._target)
        info = {
            "is_success": distance <= self.success_distance,
            "distance": distance,
            "collision": collision,
        }
        if self.goal == "pose":
            pose_obs, angle = orientation.observation(link[5], self.target_orn)
            pose_obs = pose_obs.astype(np.float32).clip(self._obs_low[k:], self._obs_high[k:])
            obs = np.concatenate([obs, pose_obs])
            info["is_success"] = info["is_success"] and angle <= self.success_angle
            info["angle"] = angle
        if self.camera is not None:  # the target's coordinates go to info only, for a critic
            info["state"] = obs
            obs = {"pixels": self.camera.image(), "state": obs[self._proprio]}
        return obs, info

    def render(self) -> np.ndarray | None:
        if self.goal == "pose":  # the tool's frame follows it only in pictures
            link = self._get_link_state(self.body, self.ee_link, computeForwardKinematics=1)
            place_frame(self.client, self.tool_frame, link[4], link[5])
        return render(self)

    def close(self) -> None:
        if getattr(self, "camera", None) is not None:
            self.camera.close()
            self.camera = None
        if getattr(self, "client", None) is not None:
            self.client.disconnect()
            self.client = None


def check_box(low, high) -> tuple[np.ndarray, np.ndarray]:
    """The target box as arrays, or a ValueError saying what is wrong with it."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if low.shape != (3,) or high.shape != (3,) or not np.isfinite([low, high]).all():
        raise ValueError(
            f"target_low={low.tolist()}, target_high={high.tolist()} must be 3 finite numbers "
            "each: the box's corners [x, y, z] in metres, in the arm's base frame."
        )
    if not (low <= high).all() or low[2] <= 0:
        raise ValueError(
            f"target box {low.tolist()}..{high.tolist()} must have target_low <= target_high "
            "and lie above the floor (z > 0)."
        )
    return low, high


def check_camera(obs_mode, goal, image_size, position, target, fov) -> None:
    """The pixel options, or a ValueError saying which is wrong and what to pass."""
    if obs_mode not in OBS_MODES:
        raise ValueError(
            f"obs_mode={obs_mode!r} is unknown; use 'state' (joint states and the target's "
            "coordinates) or 'pixels' (a camera image and the arm's joint states)."
        )
    if obs_mode == "pixels" and goal != "position":
        raise ValueError(
            f"obs_mode='pixels' with goal={goal!r}: the camera shows the target as a ball, which "
            "has no orientation; use goal='position' with pixels."
        )
    if (
        not isinstance(image_size, int)
        or isinstance(image_size, bool)
        or not 8 <= image_size <= 1024
    ):
        raise ValueError(
            f"image_size={image_size!r} must be a whole number of pixels from 8 to 1024 (the "
            f"image is image_size x image_size; default {IMAGE_SIZE})."
        )
    for name, point in (("camera_position", position), ("camera_target", target)):
        if point is not None and (np.shape(point) != (3,) or not np.isfinite(point).all()):
            raise ValueError(f"{name}={point!r} must be 3 finite numbers [x, y, z] in metres.")
    if fov is not None and not (isinstance(fov, int | float) and 0 < fov < 180):
        raise ValueError(f"camera_fov={fov!r} must be an angle in degrees between 0 and 180.")
    if position is not None and target is not None and np.allclose(position, target):
        raise ValueError("camera_position and camera_target are the same point: no direction.")


def frame_marker(client, length: float, thickness: float = 0.06) -> tuple[int, int, int]:
    """Three visual-only bars, red, green and blue along x, y and z: a frame drawn in renders
    (the target's thick, the tool's thin)."""
    bars = []
    for axis in range(3):
        half, offset = np.full(3, thickness * length), np.zeros(3)
        half[axis] = offset[axis] = length / 2
        rgba = [0.0, 0.0, 0.0, 1.0]
        rgba[axis] = 0.9
        shape = client.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=half.tolist(), rgbaColor=rgba,
            visualFramePosition=offset.tolist(),
        )  # fmt: skip
        bars.append(client.createMultiBody(baseMass=0, baseVisualShapeIndex=shape))
    return tuple(bars)


def place_frame(client, bars: tuple[int, int, int], position, orientation) -> None:
    for bar in bars:
        client.resetBasePositionAndOrientation(bar, list(position), list(orientation))


def describe(contact: tuple, link_names: tuple[str, ...], floor: int) -> str:
    """Which two things a contact point joins, by name."""

    def name(link: int) -> str:
        return "the base" if link == -1 else link_names[link]

    if contact[2] == floor:
        return f"{name(contact[3])} and the floor"
    return f"{name(contact[3])} and {name(contact[4])}"
