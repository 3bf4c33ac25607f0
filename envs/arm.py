"""The robot of the ArmReach envs: a fixed-base arm in its PyBullet client, with the joints an
action moves, their motors, forward and inverse kinematics, resets and contacts.

envs/robots.py reads an ``Arm`` from a URDF. Action: a change of at most ``MAX_JOINT_DELTA`` (rad,
or m for a prismatic joint) per control step, added to the *measured* joint positions (so the
observation is a full state: no hidden motor target) and clipped to the joint limits; position
motors with the URDF's force limits follow it for ``SUBSTEPS`` physics steps of ``TIME_STEP``.
"""

import itertools
import math
from dataclasses import dataclass

import numpy as np

from envs.bullet import BulletClient, pybullet

HOME_NOISE = 0.05
MAX_JOINT_DELTA = 0.05
TIME_STEP = 0.01
SUBSTEPS = 4
# PyBullet's default gain (0.1) lags a 0.05 rad command by more than a control step at 10 ms.
POSITION_GAIN = 0.3


@dataclass(eq=False)
class Arm:
    """A loaded arm: its body, what its URDF says about its joints and links, and what moves it."""

    client: BulletClient
    name: str  # the robot argument: a preset's name or a URDF path
    body: int
    urdf: str
    link_names: tuple[str, ...]
    ee_link: int
    chain: tuple[int, ...]  # the links from the base to the end effector
    joints: tuple[int, ...]  # controlled, from the base outwards
    lower: np.ndarray
    upper: np.ndarray
    forces: np.ndarray
    max_velocity: np.ndarray
    held_joints: tuple[int, ...]
    held_positions: np.ndarray
    held_forces: np.ndarray
    ik_indices: np.ndarray  # where each controlled joint sits in calculateInverseKinematics' output
    mount_links: tuple[int, ...]  # the base and the links welded to it: they rest on the floor
    # Whether contacts count: ArmReach-v1 (a floor, self-collision); v0 has neither and never asks.
    detects_collisions: bool

    def __post_init__(self) -> None:
        client = self.client
        # BulletClient looks each function up and wraps it on every attribute access; bind the
        # per-step calls once.
        self._set_motors = client.setJointMotorControlArray
        self._step_simulation = client.stepSimulation
        self._get_joint_states = client.getJointStates
        self._get_link_state = client.getLinkState
        self._get_contact_points = client.getContactPoints
        self._motor_forces = list(self.forces)
        self._gains = [POSITION_GAIN] * len(self.joints)
        self.hold_joints()
        self.reach = self._chain_length()

    def set_home(self, home_pose: np.ndarray) -> None:
        """The pose each episode starts near; the joints count as there until the first reset."""
        self.home_pose = home_pose
        self.q = home_pose.copy()

    def _chain_length(self) -> float:
        """R: the summed distances between the joints from the base to the end effector, which
        bounds how far the end effector gets from the base in any pose (plus 5 cm of margin)."""
        points = [self.client.getBasePositionAndOrientation(self.body)[0]]
        points += [self.client.getLinkState(self.body, j)[4] for j in self.chain]
        return sum(math.dist(a, b) for a, b in itertools.pairwise(points)) + 0.05

    def hold_joints(self) -> None:
        """Put the joints an action does not move (fingers, other branches) at their held
        positions, their motors holding them there."""
        for j, q in zip(self.held_joints, self.held_positions, strict=True):
            self.client.resetJointState(self.body, j, q, 0.0)
        if self.held_joints:
            self.client.setJointMotorControlArray(
                self.body,
                self.held_joints,
                pybullet.POSITION_CONTROL,
                targetPositions=self.held_positions,
                forces=self.held_forces,
            )

    def reset_joints(self, q: np.ndarray) -> None:
        """Put the controlled joints at `q`, at rest; the motors keep their targets."""
        for j, qj in zip(self.joints, q, strict=True):
            self.client.resetJointState(self.body, j, qj, 0.0)

    def random_start(self, np_random: np.random.Generator) -> np.ndarray:
        """An episode's start pose: the home pose plus uniform noise of up to HOME_NOISE."""
        noise = np_random.uniform(-HOME_NOISE, HOME_NOISE, self.home_pose.shape)
        return (self.home_pose + noise).clip(self.lower, self.upper)

    def start(self, q: np.ndarray) -> None:
        """Put the arm at rest at `q`, the held joints at theirs, and the motors aimed at `q`."""
        self.reset_joints(q)
        self.hold_joints()
        # The motors keep their last targets across resets; aim them at the new start pose.
        self._command(q)

    def act(self, action: np.ndarray) -> bool:
        """Move by `action` (module docstring) for one control step; whether a contact happened."""
        self._command(
            (self.q + MAX_JOINT_DELTA * action.clip(-1.0, 1.0)).clip(self.lower, self.upper)
        )
        collision = False
        for _ in range(SUBSTEPS):
            self._step_simulation()
            # A contact in any substep counts: a fast swing can touch and leave within a step.
            collision = collision or (self.detects_collisions and bool(self.contacts()))
        return collision

    def _command(self, q_target: np.ndarray) -> None:
        self._set_motors(
            self.body,
            self.joints,
            pybullet.POSITION_CONTROL,
            targetPositions=q_target,
            forces=self._motor_forces,
            positionGains=self._gains,
        )

    def measure(self) -> tuple[tuple, tuple, tuple, tuple]:
        """Joint positions and velocities, and the end effector's position and orientation."""
        pos, vel, _, _ = zip(*self._get_joint_states(self.body, self.joints), strict=True)
        link = self._get_link_state(self.body, self.ee_link, computeForwardKinematics=1)
        self.q = np.array(pos)
        return pos, vel, link[4], link[5]

    def ee_pose(self) -> tuple[tuple, tuple]:
        """The end effector's position and orientation (x, y, z, w) at the current joints."""
        link = self._get_link_state(self.body, self.ee_link, computeForwardKinematics=1)
        return link[4], link[5]

    def ik(self, point, orn=None) -> np.ndarray:
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
        return np.array(q)[self.ik_indices].clip(self.lower, self.upper)

    def pose_reaching(self, point: np.ndarray) -> tuple[np.ndarray, float]:
        """Joint positions for the end effector at `point`, by repeated IK from mid-range, and how
        far (m) from `point` they leave it."""
        mid = np.where((self.lower <= 0) & (self.upper >= 0), 0.0, (self.lower + self.upper) / 2)
        self.reset_joints(mid)
        for _ in range(20):  # IK from the pose it reached, until it converges
            q = self.ik(point)
            self.reset_joints(q)
        return q, math.dist(self.ee_pose()[0], point)

    def contacts(self) -> list[tuple]:
        """Contact points of the arm with the floor or itself, where the shapes overlap, as of
        the last collision detection."""
        return [c for c in self._get_contact_points(bodyA=self.body) if c[8] < 0]

    def touching(self) -> list[tuple]:
        """The contacts at the current joints (a fresh collision detection); none if contacts do
        not count."""
        if not self.detects_collisions:
            return []
        self.client.performCollisionDetection()
        return self.contacts()

    def describe(self, contact: tuple, floor: int) -> str:
        """Which two things a contact point joins, by name."""

        def name(link: int) -> str:
            return "the base" if link == -1 else self.link_names[link]

        if contact[2] == floor:
            return f"{name(contact[3])} and the floor"
        return f"{name(contact[3])} and {name(contact[4])}"
