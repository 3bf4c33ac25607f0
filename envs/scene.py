"""What the pixel camera's world looks like in an episode: the nominal look, the range each
property is drawn from at every reset, and the checks of the keywords that fix one.

Domain randomization (Tobin et al. 2017) of the camera's pose and field of view (ManiSkill3
randomizes a camera by a few cm and degrees too), the light, the colours and distractors, so that a
policy learns what stays the same, the arm and the red ball, and survives a camera whose pose is
never exactly its config's. Each property is a keyword of ``gym.make("ArmReach-v1", ...)``: None
draws it per episode from its range below (or takes the nominal value with
``randomize=False``), a value fixes it. docs/envs.md, "Pixels", lists them with their ranges.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import numpy as np

from envs.checks import number_in, point, whole_number

# The ranges drawn from per episode (with randomize=True).
CAMERA_SHIFT = 0.03  # m: the camera's position moves within a ball of this radius
CAMERA_TURN = 3.0  # degrees: it turns by at most this about a random axis through itself
FOV_RANGE = 3.0  # degrees: its field of view, the nominal one plus or minus this
LIGHT_ELEVATION = (30.0, 90.0)  # degrees above the horizon, from any azimuth
LIGHT_COLOR = (0.75, 1.0)  # each of red, green and blue
LIGHT_AMBIENT = (0.35, 0.75)
MAX_DISTRACTORS = 3  # 0 to this many, on the floor
IMAGE_NOISE = (0.0, 6.0)  # the standard deviation of Gaussian pixel noise, in levels of 255
SURFACE_VALUE = (0.15, 0.95)  # the brightness (HSV value) of the links, floor and background
# No surface may look like the target: hues within this many degrees of red need a saturation
# below TARGET_SATURATION.
TARGET_HUE_MARGIN, TARGET_SATURATION = 40.0, 0.35

# The nominal look (randomize=False), and what a value of each keyword must be.
TARGET_RGBA = (0.9, 0.1, 0.1, 1.0)
LIGHT_DIRECTION = (0.4, -0.3, 1.0)
LIGHT_AMBIENT_NOMINAL, LIGHT_DIFFUSE = 0.6, 0.35
FLOOR_COLOR = (0.55, 0.55, 0.55)
BACKGROUND_COLOR = (0.85, 0.88, 0.92)
# The table under the arm (x, y, in units of the arm's reach); the distractors stand on it.
TABLE_LOW, TABLE_HIGH = (-0.35, -0.85), (1.0, 0.85)
DISTRACTOR_LOW, DISTRACTOR_HIGH = (-0.25, -0.75), (0.9, 0.75)
DISTRACTOR_SHAPES = ("box", "cylinder", "capsule")  # never a ball: the target is one
DISTRACTOR_POOL = 20  # objects of those shapes and of varied sizes, made once per camera


@dataclass
class Look:
    """One episode's values (module docstring); `arm_colors` is None for the URDF's own."""

    camera_offset: np.ndarray
    camera_turn: np.ndarray  # a rotation vector, degrees
    fov: float
    light_direction: np.ndarray
    light_color: np.ndarray
    light_ambient: float
    arm_colors: np.ndarray | None
    floor_color: np.ndarray
    background_color: np.ndarray
    image_noise: float
    distractors: list[tuple[str, np.ndarray, np.ndarray, float, np.ndarray]] = field(
        default_factory=list
    )  # (which of the DISTRACTOR_POOL, floor position (x, y), yaw, colour)


@dataclass
class SceneOptions:
    """The keywords (module docstring); None: drawn per episode, or nominal when not
    `randomize`."""

    randomize: bool = True
    camera_offset: tuple | None = None
    camera_turn: tuple | None = None
    camera_fov: float | None = None
    light_direction: tuple | None = None
    light_color: tuple | None = None
    light_ambient: float | None = None
    arm_color: tuple | None = None
    floor_color: tuple | None = None
    background_color: tuple | None = None
    distractors: int | None = None
    image_noise: float | None = None

    def check(self) -> None:
        """Each value within its range, or a ValueError naming the keyword and the range."""
        for name in ("camera_offset", "camera_turn", "light_direction"):
            value = getattr(self, name)
            if value is not None and not point(value):
                raise ValueError(f"{name}={value!r} must be 3 finite numbers [x, y, z].")
        if self.camera_turn is not None and np.linalg.norm(self.camera_turn) >= 90:
            raise ValueError(
                f"camera_turn={self.camera_turn!r}: a turn of 90 degrees or more looks away; "
                "give a rotation vector in degrees shorter than 90."
            )
        if self.light_direction is not None and not np.linalg.norm(self.light_direction) > 0:
            raise ValueError("light_direction=[0, 0, 0] has no direction; give [x, y, z].")
        for name in ("light_color", "arm_color", "floor_color", "background_color"):
            value = getattr(self, name)
            if value is not None and not point(value, 0, 1):
                raise ValueError(
                    f"{name}={value!r} must be 3 numbers [red, green, blue], each in [0, 1]."
                )
        if self.light_ambient is not None and not number_in(self.light_ambient, 0, 1):
            raise ValueError(f"light_ambient={self.light_ambient!r} must be in [0, 1].")
        if self.distractors is not None and not whole_number(self.distractors, 0, DISTRACTOR_POOL):
            raise ValueError(
                f"distractors={self.distractors!r} must be a whole number from 0 to "
                f"{DISTRACTOR_POOL} (objects on the table; None draws 0 to {MAX_DISTRACTORS} per "
                "episode)."
            )
        if self.image_noise is not None and not number_in(self.image_noise, 0, 255):
            raise ValueError(
                f"image_noise={self.image_noise!r} must be in [0, 255] (the standard deviation "
                "of the pixel noise, in levels of 255)."
            )

    def draw(self, rng: np.random.Generator, nominal_fov: float, links: int,
             reach: float) -> Look:  # fmt: skip
        """The look of an episode: fixed values as given, the others drawn with `rng` (or
        nominal); `links` colours for an arm of `reach` (m)."""
        random = self.randomize

        def pick(value, nominal, draw):
            if value is not None:
                return np.asarray(value, dtype=np.float64) if np.ndim(value) else float(value)
            return draw() if random else nominal

        look = Look(
            camera_offset=pick(self.camera_offset, np.zeros(3), lambda: in_ball(rng, CAMERA_SHIFT)),
            camera_turn=pick(self.camera_turn, np.zeros(3), lambda: in_ball(rng, CAMERA_TURN)),
            fov=pick(self.camera_fov, nominal_fov,
                     lambda: nominal_fov + rng.uniform(-FOV_RANGE, FOV_RANGE)),
            light_direction=pick(self.light_direction, np.array(LIGHT_DIRECTION),
                                 lambda: light_direction(rng)),
            light_color=pick(self.light_color, np.ones(3), lambda: rng.uniform(*LIGHT_COLOR, 3)),
            light_ambient=pick(self.light_ambient, LIGHT_AMBIENT_NOMINAL,
                               lambda: rng.uniform(*LIGHT_AMBIENT)),
            arm_colors=None,
            floor_color=pick(self.floor_color, np.array(FLOOR_COLOR), lambda: surface(rng)),
            background_color=pick(self.background_color, np.array(BACKGROUND_COLOR),
                                  lambda: surface(rng)),
            image_noise=pick(self.image_noise, 0.0, lambda: rng.uniform(*IMAGE_NOISE)),
        )  # fmt: skip
        if self.arm_color is not None:
            look.arm_colors = np.tile(np.asarray(self.arm_color, dtype=np.float64), (links, 1))
        elif random:
            look.arm_colors = np.array([surface(rng) for _ in range(links)])
        count = self.distractors
        if count is None:
            count = int(rng.integers(0, MAX_DISTRACTORS + 1)) if random else 0
        chosen = rng.choice(DISTRACTOR_POOL, count, replace=False) if count else []
        look.distractors = [(int(i), *on_floor(rng, reach)) for i in chosen]
        return look


def in_ball(rng: np.random.Generator, radius: float) -> np.ndarray:
    """A point drawn uniformly in the ball of `radius` around the origin."""
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    return direction * radius * rng.uniform() ** (1 / 3)


def light_direction(rng: np.random.Generator) -> np.ndarray:
    """From any azimuth, LIGHT_ELEVATION above the horizon: the direction towards the light."""
    azimuth = rng.uniform(0, 2 * math.pi)
    elevation = math.radians(rng.uniform(*LIGHT_ELEVATION))
    return np.array([math.cos(elevation) * math.cos(azimuth),
                     math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])  # fmt: skip


def looks_like_target(rgb) -> bool:
    hue, saturation, _ = colorsys.rgb_to_hsv(*rgb)
    hue_distance = min(hue, 1 - hue) * 360
    return hue_distance < TARGET_HUE_MARGIN and saturation >= TARGET_SATURATION


def surface(rng: np.random.Generator) -> np.ndarray:
    """A colour of any hue and saturation, SURFACE_VALUE bright, that does not look like the
    target."""
    while True:
        hue, saturation = rng.uniform(), rng.uniform()
        if not looks_like_target(colorsys.hsv_to_rgb(hue, saturation, 1.0)):
            return np.array(colorsys.hsv_to_rgb(hue, saturation, rng.uniform(*SURFACE_VALUE)))


def on_floor(rng: np.random.Generator, reach: float):
    """A distractor's place on the floor in front of the arm, beside its base, its yaw and its
    colour (not the target's)."""
    while True:
        position = rng.uniform(DISTRACTOR_LOW, DISTRACTOR_HIGH) * reach
        if np.linalg.norm(position) > 0.2 * reach:  # not inside the arm's base
            break
    return position, rng.uniform(0, 2 * math.pi), surface(rng)
