"""Orientations for ArmReach-v1's pose goal: what the policy sees and how far off it is.

Quaternions are PyBullet's ``(x, y, z, w)``. A quaternion and its negative are the same
orientation (the double cover), so no network input is a quaternion: an orientation enters the
observation as the first two columns of its rotation matrix (the "6D" representation of Zhou et
al. 2019, continuous and unique), and the error as the rotation vector (axis times angle, in the
world frame) of the rotation that turns the end effector onto the target, with the quaternion's
sign fixed so that its angle lies in [0, pi]. Both are the same for q and -q.
"""

import math

import numpy as np

# The length of one observation's orientation part: the tool's 6D, the target's 6D, the error.
SIZE = 15


def matrix_columns(q: tuple[float, float, float, float]) -> tuple[float, ...]:
    """The first two columns of the rotation matrix of the unit quaternion `q` (x, y, z, w)."""
    x, y, z, w = q
    return (
        1 - 2 * (y * y + z * z),
        2 * (x * y + w * z),
        2 * (x * z - w * y),
        2 * (x * y - w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z + w * x),
    )


def error(
    target: tuple[float, float, float, float], ee: tuple[float, float, float, float]
) -> tuple[tuple[float, float, float], float]:
    """The rotation vector (rad, world frame) that turns `ee` onto `target`, and its angle."""
    tx, ty, tz, tw = target
    ex, ey, ez, ew = -ee[0], -ee[1], -ee[2], ee[3]  # the inverse of a unit quaternion
    # target * ee^-1, Hamilton product
    x = tw * ex + tx * ew + ty * ez - tz * ey
    y = tw * ey - tx * ez + ty * ew + tz * ex
    z = tw * ez + tx * ey - ty * ex + tz * ew
    w = tw * ew - tx * ex - ty * ey - tz * ez
    if w < 0:  # the same rotation, the short way round
        x, y, z, w = -x, -y, -z, -w
    sin_half = math.sqrt(x * x + y * y + z * z)
    angle = 2 * math.atan2(sin_half, w)
    scale = angle / sin_half if sin_half > 1e-12 else 2.0
    return (x * scale, y * scale, z * scale), angle


def observation(
    ee: tuple[float, float, float, float], target: tuple[float, float, float, float]
) -> tuple[tuple[float, ...], float]:
    """``(ee 6D, target 6D, rotation vector)`` and the angle between the two (rad)."""
    rotvec, angle = error(target, ee)
    return matrix_columns(ee) + matrix_columns(target) + rotvec, angle


def bounds() -> tuple[np.ndarray, np.ndarray]:
    """The observation bounds of `observation`'s vector: matrix entries in [-1, 1], the rotation
    vector's in [-pi, pi]."""
    high = np.concatenate([np.ones(12), np.full(3, math.pi)])
    return -high, high
