"""The tasks of the ArmReach envs: reach a point (v0, and v1's default) or a pose (v1,
``goal="pose"``). A task draws each episode's target, shows it in renders, gives the observation's
goal entries with their bounds, ``info``'s distances and success, and the reward.

Point: the target is uniform in the target box; the entries are ``[target, target - ee]``; success
is a distance within ``success_distance``. Pose (docs/envs.md, "The pose goal"): the target is the
end effector's pose at the home pose plus a uniform offset of up to ``POSE_JOINT_RANGE`` per joint,
kept when in the target box and touching nothing; the entries add ``orientation.SIZE`` more
(envs/orientation.py); the dense reward is ``-(distance + ANGLE_WEIGHT * angle)``; success also
needs ``info["angle"]`` (rad) within ``success_angle``.
"""

import math

import numpy as np

from envs import orientation
from envs.arm import Arm
from envs.bullet import pybullet

GOALS = ("position", "pose")
REWARD_TYPES = ("dense", "sparse")
SUCCESS_DISTANCE = 0.05
# Chosen by measurement (docs/envs.md, "The pose goal").
SUCCESS_ANGLE = 0.1
POSE_JOINT_RANGE = 1.0
# Metres of position error that cost as much as one radian of orientation error in the dense
# reward: a 0.2 rad error weighs as much as 10 cm.
ANGLE_WEIGHT = 0.5
POSE_TRIES = 10_000


def check_reward_type(reward_type: str) -> None:
    if reward_type not in REWARD_TYPES:
        raise ValueError(
            f"reward_type={reward_type!r} is unknown; use 'dense' (minus the distance) or "
            "'sparse' (-1 until within the success distance, then 0)."
        )


def reward(error: float, is_success: bool, reward_type: str) -> float:
    """Dense: minus the error. Sparse: -1 until success, then 0 (as in FetchReach)."""
    if reward_type == "dense":
        return -error
    return 0.0 if is_success else -1.0


class PointTask:
    """Reach a point drawn uniformly in the box `low`..`high` with the end effector."""

    def __init__(
        self, arm: Arm, low: np.ndarray, high: np.ndarray, success_distance: float, reward_type: str
    ) -> None:
        self.arm, self.low, self.high = arm, low, high
        self.success_distance, self.reward_type = success_distance, reward_type
        shape = arm.client.createVisualShape(
            pybullet.GEOM_SPHERE, radius=success_distance, rgbaColor=[0.1, 0.8, 0.1, 0.6]
        )
        # Visual only (no collision shape, no mass): it shows the success ball in renders and
        # cannot touch the arm.
        self.marker = arm.client.createMultiBody(
            baseMass=0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=shape
        )
        self.position = (low + high) / 2
        self.orientation = None  # any orientation reaches a point

    @property
    def position(self) -> np.ndarray:
        return self._position

    @position.setter
    def position(self, position: np.ndarray) -> None:
        self._position = position
        self._point = tuple(position)  # what the observation reads: tuples concatenate fastest

    def bounds(self, reach: float) -> tuple[np.ndarray, np.ndarray]:
        """The bounds of `observe`'s entries, for an end effector within `reach` of the origin."""
        return (
            np.concatenate([self.low, self.low - reach]),
            np.concatenate([self.high, self.high + reach]),
        )

    def sample(self, np_random: np.random.Generator) -> None:
        self.position = np_random.uniform(self.low, self.high)

    def show(self) -> None:
        """Move the markers to the target, for renders."""
        self.arm.client.resetBasePositionAndOrientation(
            self.marker, self.position, (0.0, 0.0, 0.0, 1.0)
        )

    def observe(self, ee: tuple, ee_orn: tuple) -> tuple[tuple, dict]:
        """The observation's goal entries, and ``info``'s ``is_success`` and ``distance``."""
        target = self._point
        distance = math.dist(ee, target)
        entries = target + (target[0] - ee[0], target[1] - ee[1], target[2] - ee[2])
        return entries, {"is_success": distance <= self.success_distance, "distance": distance}

    def reward(self, info: dict) -> float:
        return reward(info["distance"], info["is_success"], self.reward_type)


class PoseTask(PointTask):
    """Reach a reachable pose (module docstring): a point and an orientation of the end effector.
    Needs the arm at its home pose when made; draws from `np_random` to check a pose exists."""

    def __init__(
        self,
        arm: Arm,
        low: np.ndarray,
        high: np.ndarray,
        success_distance: float,
        reward_type: str,
        success_angle: float,
        np_random: np.random.Generator,
    ) -> None:
        super().__init__(arm, low, high, success_distance, reward_type)
        self.success_angle = success_angle
        self.orientation = arm.ee_pose()[1]
        self.target_frame = frame_marker(arm.client, 4 * success_distance)
        self.tool_frame = frame_marker(arm.client, 4 * success_distance, thickness=0.03)
        if self._draw(np_random) is None:
            raise ValueError(self._unreachable_message())
        arm.reset_joints(arm.home_pose)

    def bounds(self, reach: float) -> tuple[np.ndarray, np.ndarray]:
        low, high = super().bounds(reach)
        orientation_low, orientation_high = orientation.bounds()
        return np.concatenate([low, orientation_low]), np.concatenate([high, orientation_high])

    def sample(self, np_random: np.random.Generator) -> None:
        pose = self._draw(np_random)
        if pose is None:
            raise ValueError(self._unreachable_message())
        self.position, self.orientation = pose

    def show(self) -> None:
        """Move the ball and the target's frame to the target, the tool's frame to the tool."""
        super().show()
        place_frame(self.arm.client, self.target_frame, self.position, self.orientation)
        place_frame(self.arm.client, self.tool_frame, *self.arm.ee_pose())

    def observe(self, ee: tuple, ee_orn: tuple) -> tuple[tuple, dict]:
        """The point's entries and info, with the orientations and ``info["angle"]``."""
        entries, info = super().observe(ee, ee_orn)
        orientation_entries, angle = orientation.observation(ee_orn, self.orientation)
        info["is_success"] = info["is_success"] and angle <= self.success_angle
        info["angle"] = angle
        return entries + orientation_entries, info

    def reward(self, info: dict) -> float:
        error = info["distance"] + ANGLE_WEIGHT * info["angle"]
        return reward(error, info["is_success"], self.reward_type)

    def _draw(self, np_random: np.random.Generator) -> tuple[np.ndarray, tuple] | None:
        """A reachable pose (module docstring), or None if POSE_TRIES draws found none. Leaves
        the joints where the last draw put them."""
        arm = self.arm
        for _ in range(POSE_TRIES):
            offset = np_random.uniform(-POSE_JOINT_RANGE, POSE_JOINT_RANGE, len(arm.joints))
            arm.reset_joints((arm.home_pose + offset).clip(arm.lower, arm.upper))
            position, orn = arm.ee_pose()
            position = np.array(position)
            if (position >= self.low).all() and (position <= self.high).all():
                if not arm.touching():
                    return position, orn
        return None

    def _unreachable_message(self) -> str:
        return (
            f"robot={self.arm.name!r}, goal='pose': no joint offset of up to {POSE_JOINT_RANGE} "
            f"from the home pose puts the end effector in the target box {self.low.tolist()}.."
            f"{self.high.tolist()} without a contact ({POSE_TRIES} draws); pass a box around the "
            "end effector's home position (target_low=[x, y, z], target_high=[x, y, z]) or "
            "another home_pose=[...]."
        )


def make_task(
    goal: str, arm: Arm, low, high, success_distance, success_angle, reward_type, np_random
) -> PointTask:
    """The task of `goal` (one of GOALS); `success_angle` and `np_random` serve the pose only."""
    if goal == "pose":
        return PoseTask(arm, low, high, success_distance, reward_type, success_angle, np_random)
    return PointTask(arm, low, high, success_distance, reward_type)


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


def place_frame(client, bars: tuple[int, int, int], position, orn) -> None:
    for bar in bars:
        client.resetBasePositionAndOrientation(bar, list(position), list(orn))
