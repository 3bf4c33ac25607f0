"""The camera of ArmReach-v1's ``obs_mode="pixels"``: what a fixed camera sees of the arm and the
target, drawn cheaply.

The arm's meshes and large surfaces, not the pixels, are what a TinyRenderer frame costs (tens of
thousands of triangles for the Panda; a floor across the image costs more than the arm); so the
camera looks at a scene of its own, in a second physics client that never steps, on a plain
background: one box per link of the arm's kinematic chain (from each joint to the
next, rigidly attached to its link, so it turns with it), a cube on the end effector, the target
ball and its shadow on the floor (a dark disc under it: one camera alone cannot tell how far away
the ball is, its shadow can). Each frame moves the boxes to the arm's link frames and renders.
docs/envs.md, "Pixels", has pictures and the reasons.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from envs.bullet import connect, pybullet

# A box's half-width, as a fraction of the arm's reach (R): 2.5 cm for the KUKA's 1.26 m. Thin
# links hide less of the target and its shadow (docs/envs.md, "Pixels").
LINK_HALF_WIDTH = 0.02
# Segments shorter than this (m) are left out: joints whose frames coincide.
MIN_SEGMENT = 0.01
DEFAULT_FOV = 50.0
# The default view's direction from the target box's centre: in front of the arm, to its right,
# above (azimuth and elevation in degrees).
DEFAULT_AZIMUTH, DEFAULT_ELEVATION = 30.0, 40.0
# How much of the image (in normalized device coordinates) the target box may fill by default.
FILL = 0.9
LINK_RGBA = ((0.25, 0.35, 0.85, 1), (0.9, 0.9, 0.9, 1))
TOOL_RGBA = (1.0, 0.85, 0.1, 1)
TARGET_RGBA = (0.9, 0.1, 0.1, 1)
SHADOW_RGBA = (0.1, 0.1, 0.1, 1)


class Camera:
    """A fixed camera on a proxy scene of `arm` (envs/arm.py) and the target of `task`
    (envs/tasks.py: its box, its ball of radius ``success_distance``, its position)."""

    def __init__(self, arm, task, image_size: int, position=None, target=None, fov=None) -> None:
        self.arm, self.task = arm, task
        self.size = image_size
        # The default view frames the target ball anywhere in its box, and the arm at its
        # current (home) pose.
        links = arm.client.getLinkStates(arm.body, arm.chain, computeForwardKinematics=1)
        radius = task.success_distance
        box = box_corners(task.low - radius, task.high + radius)
        framed = np.concatenate([box, [s[4] for s in links], [[0, 0, 0]]])
        if target is None:
            target = (framed.min(axis=0) + framed.max(axis=0)) / 2
        self.look_at = np.array(target, dtype=np.float64)
        self.fov = DEFAULT_FOV if fov is None else float(fov)
        if position is None:
            position = default_position(self.look_at, self.fov, framed)
        self.position = np.array(position, dtype=np.float64)
        self.client = connect()
        try:
            self._view = self.client.computeViewMatrix(
                self.position.tolist(), self.look_at.tolist(), [0, 0, 1]
            )
            self._projection = self.client.computeProjectionMatrixFOV(
                self.fov, 1.0, 0.02, 10 * arm.reach
            )
            self._build_scene()
        except BaseException:
            self.close()
            raise

    def _build_scene(self) -> None:
        arm, client = self.arm, self.client

        # The chain's links, each with the box from its frame to the next link's frame.
        chain = arm.chain
        states = arm.client.getLinkStates(arm.body, chain, computeForwardKinematics=1)
        base = arm.client.getBasePositionAndOrientation(arm.body)
        frames = [base] + [(s[4], s[5]) for s in states]
        half_width = LINK_HALF_WIDTH * arm.reach
        # The boxes that move, and the link each follows; the base's box stands where it is made.
        self._links, self._boxes = [], []
        made = 0
        for i, ((pos, orn), (next_pos, _)) in enumerate(itertools.pairwise(frames)):
            inv_pos, inv_orn = client.invertTransform(pos, orn)
            offset = np.array(
                client.multiplyTransforms(inv_pos, inv_orn, next_pos, [0, 0, 0, 1])[0]
            )
            length = float(np.linalg.norm(offset))
            if length < MIN_SEGMENT:
                continue
            shape = client.createVisualShape(
                pybullet.GEOM_BOX,
                halfExtents=[half_width, half_width, length / 2],
                rgbaColor=LINK_RGBA[made % 2],
                visualFramePosition=(offset / 2).tolist(),
                visualFrameOrientation=z_onto(offset / length),
            )
            box = client.createMultiBody(0, -1, shape, basePosition=pos, baseOrientation=orn)
            made += 1
            if i > 0:
                self._links.append(chain[i - 1])
                self._boxes.append(box)
        tool = client.createVisualShape(
            pybullet.GEOM_BOX,
            halfExtents=[0.5 * self.task.success_distance] * 3,
            rgbaColor=TOOL_RGBA,
        )
        self._links.append(arm.ee_link)
        self._boxes.append(client.createMultiBody(0, -1, tool))
        radius = self.task.success_distance
        ball = client.createVisualShape(pybullet.GEOM_SPHERE, radius=radius, rgbaColor=TARGET_RGBA)
        self._target = client.createMultiBody(0, -1, ball)
        disc = client.createVisualShape(
            pybullet.GEOM_CYLINDER, radius=radius, length=0.002, rgbaColor=SHADOW_RGBA
        )
        self._shadow = client.createMultiBody(0, -1, disc)
        # Looked up once: BulletClient wraps every attribute access in a new function.
        self._move = client.resetBasePositionAndOrientation
        self._render = client.getCameraImage

    def image(self) -> np.ndarray:
        """What the camera sees now: (size, size, 3) uint8, channel-last."""
        arm = self.arm
        states = arm.client.getLinkStates(arm.body, self._links, computeForwardKinematics=1)
        for box, state in zip(self._boxes, states, strict=True):
            self._move(box, state[4], state[5])
        target = self.task.position
        self._move(self._target, target, (0, 0, 0, 1))
        self._move(self._shadow, (target[0], target[1], 0.001), (0, 0, 0, 1))
        rgba = self._render(
            self.size,
            self.size,
            self._view,
            self._projection,
            shadow=0,
            renderer=pybullet.ER_TINY_RENDERER,
            flags=pybullet.ER_NO_SEGMENTATION_MASK,
        )[2]
        return np.asarray(rgba, dtype=np.uint8).reshape(self.size, self.size, 4)[..., :3]

    def outside(self, points: np.ndarray) -> np.ndarray:
        """The rows of `points` (world, m) that fall outside the image or behind the camera."""
        ndc = project(points, self._view, self._projection)
        return points[~(np.abs(ndc) <= 1).all(axis=1)]

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.disconnect()
            self.client = None


def box_corners(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.array([[(low, high)[(i >> k) & 1][k] for k in range(3)] for i in range(8)])


def z_onto(direction: np.ndarray) -> list[float]:
    """The quaternion (x, y, z, w) of the shortest rotation that turns +z onto `direction`."""
    axis = np.cross([0.0, 0.0, 1.0], direction)
    sin, cos = np.linalg.norm(axis), direction[2]
    if sin < 1e-9:
        return [0.0, 0.0, 0.0, 1.0] if cos > 0 else [1.0, 0.0, 0.0, 0.0]
    half = math.atan2(sin, cos) / 2
    return [*(axis / sin * math.sin(half)), math.cos(half)]


def project(points: np.ndarray, view, projection) -> np.ndarray:
    """World points -> normalized device coordinates (x, y); behind the camera -> inf."""
    view_m = np.array(view).reshape(4, 4).T  # PyBullet's matrices are column-major
    proj_m = np.array(projection).reshape(4, 4).T
    homogeneous = np.c_[points, np.ones(len(points))]
    clip = homogeneous @ view_m.T @ proj_m.T
    with np.errstate(divide="ignore", invalid="ignore"):
        ndc = clip[:, :2] / clip[:, 3:]
    return np.where(clip[:, 3:] > 0, ndc, np.inf)


def default_position(look_at: np.ndarray, fov: float, points: np.ndarray) -> np.ndarray:
    """From DEFAULT_AZIMUTH and DEFAULT_ELEVATION, the nearest camera position at which
    `points` fill at most FILL of the image."""
    azimuth, elevation = np.radians(DEFAULT_AZIMUTH), np.radians(DEFAULT_ELEVATION)
    direction = np.array(
        [
            math.cos(elevation) * math.cos(azimuth),
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
        ]
    )
    projection = pybullet.computeProjectionMatrixFOV(fov, 1.0, 0.02, 100.0)
    distance = np.linalg.norm(points - look_at, axis=1).max()
    for _ in range(200):
        position = look_at + distance * direction
        view = pybullet.computeViewMatrix(position.tolist(), look_at.tolist(), [0, 0, 1])
        if (np.abs(project(points, view, projection)) <= FILL).all():
            return position
        distance *= 1.05
    return position
