"""The camera of ArmReach-v1's ``obs_mode="pixels"``: an RGB-D camera on the arm's own meshes, a
floor, the target ball and distractors, lit by one light, its look drawn per episode
(envs/scene.py).

The scene lives in a second physics client that never steps: each frame moves the arm's visual
meshes (envs/meshes.py: simplified, as TinyRenderer's cost is their triangles) to the arm's link
frames and renders. Nothing is painted in: the image shows the bodies of that scene, and the depth
entry is the renderer's own depth buffer in millimetres, as an RGB-D camera (a RealSense's z16)
gives it. docs/envs.md, "Pixels", has pictures, the costs and the reasons.
"""

from __future__ import annotations

import math

import numpy as np

from envs import meshes, scene
from envs.bullet import connect, pybullet

DEFAULT_FOV = 50.0
# The default view's direction from the target box's centre: in front of the arm, to its right,
# above (azimuth and elevation in degrees).
DEFAULT_AZIMUTH, DEFAULT_ELEVATION = 30.0, 40.0
# How much of the image (in normalized device coordinates) the target box may fill by default:
# the margin keeps it in view when the camera moves and turns within its ranges (envs/scene.py).
FILL = 0.85
NEAR = 0.02  # m
# The depth entry's range, in units of the nominal camera's distance to what it looks at: farther
# (the far floor, the background) reads as this.
DEPTH_RANGE = 2.0
UP = np.array([0.0, 0.0, 1.0])


class Camera:
    """A camera on a scene of `arm` (envs/arm.py) and the target of `task` (envs/tasks.py: its
    box, its ball of radius ``success_distance``, its position); `options` (envs/scene.py) say
    what changes per episode."""

    def __init__(self, arm, task, image_size: int, position=None, target=None,
                 options: scene.SceneOptions | None = None,
                 max_triangles: int | None = meshes.MAX_TRIANGLES,
                 depth: bool = True) -> None:  # fmt: skip
        self.arm, self.task = arm, task
        self.size, self.depth = image_size, depth
        self.options = options or scene.SceneOptions(randomize=False)
        # The default view frames the target ball anywhere in its box, and the arm at its
        # current (home) pose.
        links = arm.client.getLinkStates(arm.body, arm.chain, computeForwardKinematics=1)
        radius = task.success_distance
        box = box_corners(task.low - radius, task.high + radius)
        framed = np.concatenate([box, [s[4] for s in links], [[0, 0, 0]]])
        if target is None:
            target = (framed.min(axis=0) + framed.max(axis=0)) / 2
        self.look_at = np.array(target, dtype=np.float64)
        fov = self.options.camera_fov
        self.fov = DEFAULT_FOV if fov is None else float(fov)  # the nominal one
        if position is None:
            position = default_position(self.look_at, self.fov, framed)
        self.position = np.array(position, dtype=np.float64)
        distance = float(np.linalg.norm(self.position - self.look_at))
        self.max_depth = DEPTH_RANGE * distance
        self.far = max(10 * arm.reach, 2 * self.max_depth)
        self.client = connect()
        try:
            # What a check of the view sees: the nominal camera, moved and turned as fixed.
            options = self.options
            self._nominal = self._view_of(
                np.zeros(3) if options.camera_offset is None else options.camera_offset,
                np.zeros(3) if options.camera_turn is None else options.camera_turn,
                self.fov,
            )
            self._build_scene(max_triangles)
            # Until the first reset draws one: the look of a fixed generator.
            self.randomize(np.random.default_rng(0))
        except BaseException:
            self.close()
            raise

    def _build_scene(self, max_triangles: int | None) -> None:
        arm, client = self.arm, self.client
        # The arm: one body per visual shape of its URDF, moved to its link's frame each frame.
        self._arm_shapes = []  # (body, rgba of the URDF) per visual shape
        self._moving, self._links, self._static = [], [], []
        for row in arm.client.getVisualShapeData(arm.body):
            link, geometry, dimensions, file, local_pos, local_orn, rgba = row[1:8]
            name = "base" if link == -1 else arm.link_names[link]
            shape = visual_shape(client, geometry, dimensions, file.decode(), local_pos,
                                 local_orn, rgba, max_triangles, name)  # fmt: skip
            if shape is None:
                continue
            if link == -1:
                pos, orn = arm.client.getBasePositionAndOrientation(arm.body)
            else:
                pos, orn = (0, 0, 0), (0, 0, 0, 1)
            body = client.createMultiBody(0, -1, shape, basePosition=pos, baseOrientation=orn)
            self._arm_shapes.append((body, tuple(rgba)))
            if link == -1:
                self._static.append(body)
            else:
                self._moving.append(body)
                self._links.append(link)
        # A table under the arm, its targets and the distractors.
        low, high = (
            np.multiply(scene.TABLE_LOW, arm.reach),
            np.multiply(scene.TABLE_HIGH, arm.reach),
        )
        half = [*((high - low) / 2), 0.005]
        table = client.createVisualShape(pybullet.GEOM_BOX, halfExtents=half,
                                         rgbaColor=[*scene.FLOOR_COLOR, 1])  # fmt: skip
        self._floor = client.createMultiBody(
            0, -1, table, basePosition=[*((low + high) / 2), -0.005]
        )
        ball = client.createVisualShape(
            pybullet.GEOM_SPHERE, radius=self.task.success_distance, rgbaColor=scene.TARGET_RGBA
        )
        self._target = client.createMultiBody(0, -1, ball)
        # The same pool for every camera of an arm: the sizes come from a fixed generator.
        sizes = np.random.default_rng(0).uniform(0.02, 0.06, (scene.DISTRACTOR_POOL, 3)) * arm.reach
        self._distractors = []  # (body, height of its centre above the floor)
        for i, (a, b, c) in enumerate(sizes):
            kind = scene.DISTRACTOR_SHAPES[i % len(scene.DISTRACTOR_SHAPES)]
            if kind == "box":
                shape = client.createVisualShape(pybullet.GEOM_BOX, halfExtents=[a, b, c])
                height = c
            elif kind == "cylinder":
                shape = client.createVisualShape(pybullet.GEOM_CYLINDER, radius=a, length=2 * c)
                height = c
            else:
                shape = client.createVisualShape(pybullet.GEOM_CAPSULE, radius=a, length=2 * c)
                height = c + a
            body = client.createMultiBody(0, -1, shape)
            self._distractors.append((body, height))
        self._static += [self._floor] + [body for body, _ in self._distractors]
        self._all = self._static + self._moving + [self._target]
        # Looked up once: BulletClient wraps every attribute access in a new function.
        self._move = client.resetBasePositionAndOrientation
        self._render = client.getCameraImage

    def randomize(self, rng: np.random.Generator) -> None:
        """A new look for the episode (envs/scene.py), drawn with `rng` where not fixed."""
        self.show(self.options.draw(rng, self.fov, len(self._arm_shapes), self.arm.reach), rng)

    def show(self, look: scene.Look, rng: np.random.Generator) -> None:
        """Set the camera, the colours, the distractors and the pixel noise (drawn with `rng`)
        of `look`."""
        self.look = look
        self._view, self._projection = self._view_of(look.camera_offset, look.camera_turn, look.fov)
        colors = {self._floor: (*look.floor_color, 1.0), self._target: scene.TARGET_RGBA}
        for i, (body, rgba) in enumerate(self._arm_shapes):
            colors[body] = rgba if look.arm_colors is None else (*look.arm_colors[i], 1.0)
        for index, (x, y), yaw, color in look.distractors:
            body, height = self._distractors[index]
            self._move(body, (x, y, height), pybullet.getQuaternionFromEuler([0, 0, yaw]))
            colors[body] = (*color, 1.0)
        self._colors = colors
        self._background = np.round(255 * look.background_color).astype(np.uint8)
        self._still = {}
        # The episode's pixel noise: a frame's is a window of this, at a random offset (one
        # draw a frame instead of one per pixel, a tenth of the cost).
        self._noise = None
        if look.image_noise > 0:
            size = 2 * self.size * self.size * 3
            self._noise = np.round(rng.normal(0, look.image_noise, size)).astype(np.int16)

    def _view_of(self, offset, turn, fov: float) -> tuple:
        """The view and projection matrices of the nominal camera moved by `offset` (m), turned
        by the rotation vector `turn` (degrees) about itself, with a `fov` (degrees)."""
        rotation = rotation_matrix(np.radians(np.asarray(turn, dtype=np.float64)))
        position = self.position + np.asarray(offset, dtype=np.float64)
        forward = rotation @ (self.look_at - self.position)
        view = pybullet.computeViewMatrix(
            position.tolist(), (position + forward).tolist(), (rotation @ UP).tolist()
        )
        return view, pybullet.computeProjectionMatrixFOV(fov, 1.0, NEAR, self.far)

    def _show_only(self, bodies: list[int]) -> None:
        """Make `bodies` visible in their colours and every other body transparent, which
        TinyRenderer skips at no cost."""
        for body in self._all:
            color = self._colors.get(body) if body in bodies else None
            self.client.changeVisualShape(body, -1, rgbaColor=color or (0, 0, 0, 0))

    def observe(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """What the camera sees now: "pixels", (size, size, 3) uint8, and with `depth`
        "depth", (size, size, 1) uint16 millimetres; `rng` draws the image noise."""
        rgb, depth = self.draw(self.size, self.size, self._view, self._projection)
        if self._noise is not None:
            start = rng.integers(len(self._noise) - rgb.size)
            noisy = rgb.reshape(-1) + self._noise[start : start + rgb.size]
            rgb = noisy.clip(0, 255).astype(np.uint8).reshape(rgb.shape)
        if not self.depth:
            return {"pixels": rgb}
        millimetres = np.minimum(depth, self.max_depth) * 1000.0
        return {"pixels": rgb, "depth": np.round(millimetres).astype(np.uint16)[..., None]}

    def draw(self, width: int, height: int, view, projection) -> tuple[np.ndarray, np.ndarray]:
        """The scene now, from `view` and `projection`: RGB (height, width, 3) uint8 and the
        depth along the view axis (height, width) in metres.

        What does not move in an episode (the table, the arm's base, the distractors) is drawn
        once per episode and view; each frame draws the moving links and the target alone and
        lays them over it by depth, as one z-buffer would: the same picture, without paying for
        the table's pixels every frame (docs/envs.md, "Pixels")."""
        key = (width, height, tuple(view), tuple(projection))
        if key not in self._still:
            self._show_only(self._static)
            still_rgb, still_z = self._render_now(width, height, view, projection)
            still_rgb[still_z >= 1.0] = self._background  # where nothing is
            self._still[key] = still_rgb, still_z
            self._show_only(self._moving + [self._target])
        still_rgb, still_z = self._still[key]
        arm = self.arm
        states = arm.client.getLinkStates(arm.body, self._links, computeForwardKinematics=1)
        for body, state in zip(self._moving, states, strict=True):
            self._move(body, state[4], state[5])
        self._move(self._target, self.task.position, (0, 0, 0, 1))
        rgb, zbuffer = self._render_now(width, height, view, projection)
        np.copyto(rgb, still_rgb, where=(zbuffer >= still_z)[..., None])
        np.minimum(zbuffer, still_z, out=zbuffer)
        return rgb, self.far * NEAR / (self.far - (self.far - NEAR) * zbuffer)

    def _render_now(self, width, height, view, projection) -> tuple[np.ndarray, np.ndarray]:
        """TinyRenderer's RGB (height, width, 3) and z-buffer (height, width) of what is
        visible, in the look's light."""
        look = self.look
        _, _, rgba, zbuffer, _ = self._render(
            width,
            height,
            view,
            projection,
            lightDirection=look.light_direction.tolist(),
            lightColor=look.light_color.tolist(),
            lightAmbientCoeff=look.light_ambient,
            lightDiffuseCoeff=scene.LIGHT_DIFFUSE,
            lightSpecularCoeff=0.0,
            renderer=pybullet.ER_TINY_RENDERER,
            flags=pybullet.ER_NO_SEGMENTATION_MASK,
        )
        rgb = np.array(rgba, dtype=np.uint8).reshape(height, width, 4)[..., :3]
        return rgb, np.asarray(zbuffer, dtype=np.float32).reshape(height, width)

    def outside(self, points: np.ndarray) -> np.ndarray:
        """The rows of `points` (world, m) that fall outside the nominal image or behind it."""
        ndc = project(points, *self._nominal)
        return points[~(np.abs(ndc) <= 1).all(axis=1)]

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.disconnect()
            self.client = None


def visual_shape(client, geometry, dimensions, file, local_pos, local_orn, rgba, max_triangles,
                 link_name) -> int | None:  # fmt: skip
    """A copy in `client` of one visual shape of a URDF (getVisualShapeData's row), its mesh
    simplified; None for a shape that draws nothing (a plane)."""
    frame = {"visualFramePosition": local_pos, "visualFrameOrientation": local_orn,
             "rgbaColor": rgba}  # fmt: skip
    if geometry == pybullet.GEOM_MESH:
        try:
            vertices, faces, normals = meshes.read(file, max_triangles)
        except ValueError as error:
            raise ValueError(f"link {link_name!r}: {error}") from None
        return client.createVisualShape(
            pybullet.GEOM_MESH,
            vertices=(vertices * dimensions).tolist(),
            indices=faces.reshape(-1).tolist(),
            normals=normals.tolist(),
            **frame,
        )
    if geometry == pybullet.GEOM_BOX:
        return client.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=[d / 2 for d in dimensions], **frame
        )
    if geometry == pybullet.GEOM_SPHERE:
        return client.createVisualShape(pybullet.GEOM_SPHERE, radius=dimensions[0], **frame)
    if geometry in (pybullet.GEOM_CYLINDER, pybullet.GEOM_CAPSULE):
        return client.createVisualShape(
            geometry, radius=dimensions[1], length=dimensions[0], **frame
        )
    return None


def rotation_matrix(rotation_vector: np.ndarray) -> np.ndarray:
    """Rodrigues: the rotation by |v| radians about v."""
    angle = float(np.linalg.norm(rotation_vector))
    if angle < 1e-12:
        return np.eye(3)
    x, y, z = rotation_vector / angle
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def box_corners(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.array([[(low, high)[(i >> k) & 1][k] for k in range(3)] for i in range(8)])


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
    projection = pybullet.computeProjectionMatrixFOV(fov, 1.0, NEAR, 100.0)
    distance = np.linalg.norm(points - look_at, axis=1).max()
    for _ in range(200):
        position = look_at + distance * direction
        view = pybullet.computeViewMatrix(position.tolist(), look_at.tolist(), [0, 0, 1])
        if (np.abs(project(points, view, projection)) <= FILL).all():
            return position
        distance *= 1.05
    return position
