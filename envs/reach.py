"""What ArmReach-v0 and ArmReach-v1 share: the env that composes an arm (envs/arm.py) and a task
(envs/tasks.py), as panda-gym's ``RobotTaskEnv`` does. v0 and v1 build the parts; this resets and
steps them, assembles the observation ``[q, dq, ee, the task's goal entries]`` and renders.
"""

from typing import Any

import gymnasium as gym
import numpy as np
import pybullet_data

from envs.arm import MAX_JOINT_DELTA, SUBSTEPS, TIME_STEP, Arm
from envs.bullet import connect, render
from envs.tasks import PointTask, check_reward_type


class ReachEnv(gym.Env[np.ndarray, np.ndarray]):
    """Reach the task's target with the arm; subclasses build both (`_connect`, `_compose`)."""

    metadata = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": round(1 / (TIME_STEP * SUBSTEPS)),
    }
    # An arm whose contacts do not count (v0) never pays for one nor ends on one.
    collision_penalty = 0.0
    terminate_on_collision = False
    camera = None  # obs_mode="pixels" of v1: envs/camera.py

    def __init__(self, render_mode: str | None, reward_type: str, width: int, height: int) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; use one of "
                f"{self.metadata['render_modes']} or None."
            )
        check_reward_type(reward_type)
        self.render_mode, self.reward_type = render_mode, reward_type
        self.width, self.height = width, height
        self._last_frame_time = 0.0

    def _connect(self) -> None:
        """This env's own physics client (several envs live independently in one process)."""
        self.client = connect(self.render_mode)
        self.client.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.client.setTimeStep(TIME_STEP)
        self.client.setGravity(0, 0, -9.81)

    def _compose(self, arm: Arm, task: PointTask, reach: float) -> None:
        """Take the parts and make the spaces; `reach` (m) bounds the end effector's distance
        from the base."""
        self.arm, self.task = arm, task
        # The arm's names that the tests and benches read off the env.
        self.body, self.ee_link, self.joints = arm.body, arm.ee_link, arm.joints
        self.joint_lower, self.joint_upper = arm.lower, arm.upper
        self.target_low, self.target_high = task.low, task.high
        self.action_space = gym.spaces.Box(-1.0, 1.0, (len(arm.joints),), np.float32)
        bound = np.full(3, reach)
        goal_low, goal_high = task.bounds(reach)
        low = np.concatenate([arm.lower, -arm.max_velocity, -bound, goal_low])
        high = np.concatenate([arm.upper, arm.max_velocity, bound, goal_high])
        self.observation_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32))
        self._obs_low, self._obs_high = self.observation_space.low, self.observation_space.high

    def _frame_view(self, look_at: list[float], distance: float, far: float) -> None:
        """The render camera: from the front right, above, `distance` (m) from `look_at`."""
        self._view = self.client.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=look_at,
            distance=distance,
            yaw=50,
            pitch=-25,
            roll=0,
            upAxisIndex=2,
        )
        self._projection = self.client.computeProjectionMatrixFOV(
            fov=60, aspect=self.width / self.height, nearVal=0.05, farVal=far
        )

    @property
    def target_pos(self) -> np.ndarray:
        return self.task.position

    @property
    def target_orn(self) -> tuple | None:
        """The target orientation (x, y, z, w); None when any orientation will do."""
        return self.task.orientation

    def ik_action(self) -> np.ndarray:
        """A scripted baseline: the action that moves the joints towards PyBullet's inverse
        kinematics for the current target. Used by the tests to show every target is reachable."""
        q_goal = self.arm.ik(self.task.position, self.task.orientation)
        return np.clip((q_goal - self.arm.q) / MAX_JOINT_DELTA, -1, 1).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        start = self.arm.random_start(self.np_random)
        self.task.sample(self.np_random)
        if self.camera is not None:
            self.camera.randomize(self.np_random)
        self.arm.start(start)
        self.task.show()
        obs, info = self._observe(bool(self.arm.touching()))
        if self.render_mode == "human":
            self.render()
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        collision = self.arm.act(checked_action(action, self.action_space.shape))
        obs, info = self._observe(collision)
        reward = self.task.reward(info)
        if collision:
            reward -= self.collision_penalty
        if self.render_mode == "human":
            self.render()
        return obs, reward, collision and self.terminate_on_collision, False, info

    def _observe(self, collision: bool) -> tuple[np.ndarray, dict[str, Any]]:
        pos, vel, ee, ee_orn = self.arm.measure()
        goal, info = self.task.observe(ee, ee_orn)
        obs = np.array(pos + vel + ee + goal, dtype=np.float32)
        # Joint limits are soft constraints that the solver overshoots by ~1e-7 rad.
        obs.clip(self._obs_low, self._obs_high, out=obs)
        if self.arm.detects_collisions:
            info["collision"] = collision
        return obs, info

    def render(self) -> np.ndarray | None:
        self.task.show()
        return render(self)

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.disconnect()
            self.client = None


def checked_action(action: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The action as float64, or a ValueError for a wrong shape or a non-finite value."""
    act = np.asarray(action, dtype=np.float64)
    if act.shape != shape:
        raise ValueError(
            f"action has shape {act.shape}; ArmReach expects shape {shape}, "
            "one value in [-1, 1] per joint."
        )
    if not np.isfinite(act).all():
        raise ValueError(
            f"action {act} contains NaN or inf; actions must be finite (values outside "
            "[-1, 1] are clipped, non-finite ones cannot be). Check the policy's output, "
            "e.g. for a diverged network."
        )
    return act
