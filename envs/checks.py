"""ArmReach-v1's argument checks: each wrong argument is one ValueError that names it, says the
rule and what to pass."""

import math

import numpy as np

from envs.arm import Arm
from envs.robots import PRESETS
from envs.tasks import GOALS

OBS_MODES = ("state", "pixels")
# obs_mode="pixels": the image's side in pixels (docs/envs.md, "Pixels": what 64 costs and buys).
IMAGE_SIZE = 64


def whole_number(value, low: int, high: float = math.inf) -> bool:
    """An int (not a bool) from low to high."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def point(value, low: float = -math.inf, high: float = math.inf) -> bool:
    """Three finite real numbers, each from low to high."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return (
        array.shape == (3,)
        and bool(np.isfinite(array).all())
        and bool(((low <= array) & (array <= high)).all())
    )


def number_in(value, low: float, high: float) -> bool:
    """A real number (not a bool) from low to high."""
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def check_options(collision_penalty, success_distance, goal, success_angle) -> None:
    """The task's options, or a ValueError saying which is wrong and what to pass."""
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


def check_robot(robot) -> None:
    if not isinstance(robot, str):
        raise ValueError(
            f"robot={robot!r} must be a string: one of {sorted(PRESETS)} or a URDF path."
        )


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
    if not whole_number(image_size, 8, 1024):
        raise ValueError(
            f"image_size={image_size!r} must be a whole number of pixels from 8 to 1024 (the "
            f"image is image_size x image_size; default {IMAGE_SIZE})."
        )
    for name, given in (("camera_position", position), ("camera_target", target)):
        if given is not None and not point(given):
            raise ValueError(f"{name}={given!r} must be 3 finite numbers [x, y, z] in metres.")
    if fov is not None and not (isinstance(fov, int | float) and 0 < fov < 180):
        raise ValueError(f"camera_fov={fov!r} must be an angle in degrees between 0 and 180.")
    if position is not None and target is not None and np.allclose(position, target):
        raise ValueError("camera_position and camera_target are the same point: no direction.")


def check_rendering(max_triangles) -> None:
    if max_triangles is not None and not whole_number(max_triangles, 4):
        raise ValueError(
            f"max_triangles={max_triangles!r} must be a whole number >= 4 (triangles kept per "
            "mesh of the arm in the camera's scene), or None to draw the full meshes."
        )


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


def check_home_pose(home_pose, arm: Arm) -> np.ndarray:
    """The home pose as an array within the joint limits, or a ValueError if it does not fit."""
    home = np.asarray(home_pose, dtype=np.float64)
    n = len(arm.joints)
    if home.shape != (n,) or not np.isfinite(home).all():
        raise ValueError(
            f"home_pose={list(home_pose)} must hold {n} finite values, one per controlled "
            f"joint ({[arm.link_names[j] for j in arm.joints]} move)."
        )
    return home.clip(arm.lower, arm.upper)
