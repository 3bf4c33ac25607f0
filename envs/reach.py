"""What ArmReach-v0 and ArmReach-v1 share: the action check, the action -> joint target mapping,
the observation and the reward. Pure functions of arrays, so that v0's numbers cannot depend on
anything v1 adds (tests/test_env.py compares v0 to a recording bit for bit)."""

import numpy as np

REWARD_TYPES = ("dense", "sparse")


def check_reward_type(reward_type: str) -> None:
    if reward_type not in REWARD_TYPES:
        raise ValueError(
            f"reward_type={reward_type!r} is unknown; use 'dense' (minus the distance) or "
            "'sparse' (-1 until within the success distance, then 0)."
        )


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


def joint_targets(
    q: np.ndarray, act: np.ndarray, max_delta: float, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Motor targets: the measured positions moved by at most `max_delta`, within the limits.

    Adding to the *measured* positions keeps the observation a full state: no hidden motor target.
    """
    return (q + max_delta * act.clip(-1.0, 1.0)).clip(lower, upper)


def observation(
    pos: tuple[float, ...],
    vel: tuple[float, ...],
    ee: tuple[float, float, float],
    target: tuple[float, float, float],
    low: np.ndarray,
    high: np.ndarray,
) -> np.ndarray:
    """``[q, dq, ee, target, target - ee]`` as float32, clipped into the observation bounds."""
    to_target = (target[0] - ee[0], target[1] - ee[1], target[2] - ee[2])
    obs = np.array(pos + vel + ee + target + to_target, dtype=np.float32)
    # Joint limits are soft constraints that the solver overshoots by ~1e-7 rad.
    obs.clip(low, high, out=obs)
    return obs


def reward(distance: float, is_success: bool, reward_type: str) -> float:
    """Dense: minus the distance (m). Sparse: -1 until success, then 0 (as in FetchReach)."""
    if reward_type == "dense":
        return -distance
    return 0.0 if is_success else -1.0
