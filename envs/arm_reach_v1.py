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
angle)``; success also needs ``info["angle"]`` (rad) within ``success_angle`` (envs/tasks.py).

Pixels (``obs_mode="pixels"``; docs/envs.md, "Pixels"): the observation is a Dict of the camera's
image (envs/camera.py) and the arm's proprioception ``[q, dq, ee]`` under "proprio"; the full
state-mode vector, target included, goes to ``info["state"]`` only, for a critic.

Collision: any contact, at any of the step's substeps, between the arm and the floor or between two
links of the arm. Not counted: links joined by a joint or welded together by fixed joints (their
meshes often overlap by construction), and the base (with what is welded to it) on the floor it is
mounted to. ``terminate_on_collision=True`` ends the episode (``terminated``) at the first one.
Why the default penalty is 0.5: see ``COLLISION_PENALTY``.

The env composes parts (envs/reach.py): the arm (envs/arm.py, read by envs/robots.py), the task
(envs/tasks.py) and, for pixels, the camera; the arguments are checked in envs/checks.py.

Per-arm defaults (``envs.robots.PRESETS``, each overridable): home pose, target box, end-effector
link. For a URDF of your own the target box scales with the arm's reach (the summed distances
between the joints from base to end effector, R): x 0.3R..0.6R, y -0.25R..0.25R, z 0.15R..0.45R,
and the home pose is PyBullet's inverse kinematics for the box's centre; pass ``home_pose``,
``target_low`` and ``target_high`` to choose your own (docs/envs.md, "Your own arm").
"""

from typing import Any

import gymnasium as gym
import numpy as np

from envs import checks
from envs.camera import Camera, box_corners
from envs.meshes import MAX_TRIANGLES
from envs.reach import ReachEnv
from envs.robots import PRESETS, load_arm
from envs.scene import SceneOptions
from envs.tasks import SUCCESS_ANGLE, SUCCESS_DISTANCE, make_task

# Chosen by measurement (docs/envs.md, "ArmReach-v1"; Panda, seed 0, 200k steps of PPO's defaults):
# 0, 0.5 and 2 all reached 95% evaluation success at 120k steps; on 100 unseen episodes the
# policy trained with 0 collided in 8, with 0.5 in 2, with 2 in 3 (and succeeded on 95%, not 98%).
COLLISION_PENALTY = 0.5
# Target box for a URDF without a preset, in units of the arm's reach (module docstring).
CUSTOM_TARGET_LOW = (0.3, -0.25, 0.15)
CUSTOM_TARGET_HIGH = (0.6, 0.25, 0.45)


class ArmReachV1Env(ReachEnv):
    """Reach a random point (or pose) with any fixed-base arm on a floor; see the module
    docstring."""

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
        image_size: int = checks.IMAGE_SIZE,
        camera_position: tuple[float, float, float] | None = None,
        camera_target: tuple[float, float, float] | None = None,
        camera_fov: float | None = None,
        randomize: bool = True,
        camera_offset: tuple[float, float, float] | None = None,
        camera_turn: tuple[float, float, float] | None = None,
        light_direction: tuple[float, float, float] | None = None,
        light_color: tuple[float, float, float] | None = None,
        light_ambient: float | None = None,
        arm_color: tuple[float, float, float] | None = None,
        floor_color: tuple[float, float, float] | None = None,
        background_color: tuple[float, float, float] | None = None,
        distractors: int | None = None,
        image_noise: float | None = None,
        depth: bool = True,
        max_triangles: int | None = MAX_TRIANGLES,
    ) -> None:
        super().__init__(render_mode, reward_type, width, height)
        checks.check_options(collision_penalty, success_distance, goal, success_angle)
        checks.check_camera(obs_mode, goal, image_size, camera_position, camera_target, camera_fov)
        scene = SceneOptions(
            randomize, camera_offset, camera_turn, camera_fov, light_direction, light_color,
            light_ambient, arm_color, floor_color, background_color, distractors, image_noise,
        )  # fmt: skip
        scene.check()
        checks.check_rendering(max_triangles)
        checks.check_robot(robot)
        self.robot = robot
        self.collision_penalty = float(collision_penalty)
        self.terminate_on_collision = bool(terminate_on_collision)
        self.success_distance = float(success_distance)
        self.goal = goal
        self.camera: Camera | None = None
        self._connect()
        try:
            self.floor = self.client.loadURDF("plane.urdf")
            preset = PRESETS.get(robot)
            if ee_link is None and preset is not None:
                ee_link = preset.ee_link
            arm = load_arm(self.client, robot, ee_link, self_collision, self.floor)
            low, high = self._target_box(arm, preset, target_low, target_high)
            self._place_home(arm, preset, home_pose, (low + high) / 2)
            task = make_task(
                goal, arm, low, high, self.success_distance, float(success_angle),
                reward_type, self.np_random,
            )  # fmt: skip
            self._compose(arm, task, arm.reach)
            center = (low + high) / 2
            # Framed on the target box, which the arm leans over: the whole arm, the box and the
            # floor around the base stay in view for every shipped arm.
            look_at = [0.5 * center[0], 0.0, center[2]]
            self._frame_view(look_at, distance=2.2 * max(center[0], center[2]), far=5 * arm.reach)
            if obs_mode == "pixels":
                camera = Camera(self.arm, self.task, image_size, camera_position, camera_target,
                                scene, max_triangles, bool(depth))  # fmt: skip
                self._setup_camera(camera)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _target_box(arm, preset, low, high) -> tuple[np.ndarray, np.ndarray]:
        """The target box: the argument, else the preset's, else scaled to the arm's reach."""
        if low is None:
            low = preset.target_low if preset else np.multiply(CUSTOM_TARGET_LOW, arm.reach)
        if high is None:
            high = preset.target_high if preset else np.multiply(CUSTOM_TARGET_HIGH, arm.reach)
        return checks.check_box(low, high)

    def _place_home(self, arm, preset, home_pose, center: np.ndarray) -> None:
        """Set the home pose (the argument, else the preset's, else IK for the box's `center`)
        and put the arm there, or raise if it cannot be reached or touches anything."""
        if home_pose is None and preset is not None and len(preset.home_pose) == len(arm.joints):
            home_pose = preset.home_pose
        if home_pose is None:
            home_pose, miss = arm.pose_reaching(center)
            if miss > 0.02:
                raise ValueError(
                    f"robot={arm.name!r}: the end effector cannot reach the centre of the "
                    f"default target box {np.round(center, 3).tolist()}; pass target_low=[x, y, "
                    "z], target_high=[x, y, z] (a box it reaches) and home_pose=[...]."
                )
        arm.set_home(checks.check_home_pose(home_pose, arm))
        arm.reset_joints(arm.home_pose)
        if contacts := arm.touching():
            raise ValueError(
                f"robot={arm.name!r}: at the home pose {np.round(arm.home_pose, 3).tolist()} "
                f"{arm.describe(contacts[0], self.floor)} touch; pass another "
                "home_pose=[...] (or self_collision=False if the URDF's meshes overlap)."
            )

    def _setup_camera(self, camera: Camera) -> None:
        """obs_mode="pixels": the camera, and the Dict observation space of its image (and
        depth) and the arm's proprioception (joint positions and velocities, end-effector
        position)."""
        self.camera = camera
        corners = box_corners(self.target_low, self.target_high)
        if len(unseen := self.camera.outside(corners)):
            raise ValueError(
                f"the camera at {np.round(self.camera.position, 3).tolist()} looking at "
                f"{np.round(self.camera.look_at, 3).tolist()} with a {self.camera.fov:g} degree "
                f"field of view does not see the target box's corner "
                f"{np.round(unseen[0], 3).tolist()}; move it back, widen camera_fov, or leave "
                "camera_position, camera_target and camera_fov out for the default view."
            )
        self._proprioception = slice(0, 2 * len(self.joints) + 3)
        low, high = self._obs_low[self._proprioception], self._obs_high[self._proprioception]
        size = camera.size
        spaces = {"pixels": gym.spaces.Box(0, 255, (size, size, 3), np.uint8)}
        if camera.depth:
            millimetres = int(np.ceil(1000 * camera.max_depth))
            spaces["depth"] = gym.spaces.Box(0, millimetres, (size, size, 1), np.uint16)
        spaces["proprio"] = gym.spaces.Box(low, high)
        # From a dict, as a space read back from a run's config.json: keys in sorted order.
        self.observation_space = gym.spaces.Dict(spaces)

    def _observe(self, collision: bool) -> tuple[np.ndarray | dict, dict[str, Any]]:
        obs, info = super()._observe(collision)
        if self.camera is None:
            return obs, info
        # The target's coordinates go to info only, for a critic.
        info["state"] = obs
        seen = {**self.camera.observe(self.np_random), "proprio": obs[self._proprioception]}
        return {key: seen[key] for key in self.observation_space}, info  # the space's order

    def render(self) -> np.ndarray | None:
        """With pixels, a frame of the camera's scene (what the policy's world holds this
        episode) from the render view."""
        if self.camera is None or self.render_mode != "rgb_array":
            return super().render()
        return self.camera.draw(self.width, self.height, self._view, self._projection)[0]

    def close(self) -> None:
        if getattr(self, "camera", None) is not None:
            self.camera.close()
            self.camera = None
        super().close()
