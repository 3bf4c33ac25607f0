"""ArmReach-v0: move the end effector of a KUKA iiwa arm (PyBullet) to a random target point.

The arm is ``kuka_iiwa/model.urdf`` from ``pybullet_data`` with a fixed base at the origin and
gravity on; each env instance owns its own ``BulletClient`` (DIRECT, or GUI for
``render_mode="human"``), so several envs live independently in one process.

Action: ``Box(-1, 1, (7,), float32)``, a joint-position change of at most ``MAX_JOINT_DELTA``
(0.05 rad) per control step, added to the *measured* joint positions (so the observation is a full
state: no hidden motor target) and clipped to the joint limits. The joints follow by PyBullet's
``POSITION_CONTROL`` motors with the URDF's force limits (300 N m), i.e. by real dynamics. Values
outside [-1, 1] are clipped; NaN, inf or a wrong shape raise ``ValueError``.

Observation: ``Box(23,)`` float32, ``[q (7), dq (7), ee (3), target (3), target - ee (3)]``: joint
positions (bounds: the joint limits), joint velocities (bounds: the URDF's 10 rad/s limit),
end-effector position (the flange, link 6; bounds: the arm's reach), target position (bounds: the
target box) and the vector from end effector to target. Values are clipped into these bounds, which
only ever trims solver noise at a joint limit.

Reward: ``reward_type="dense"`` (default) gives ``-distance`` (m) from end effector to target;
``"sparse"`` gives -1 per step while the distance is above ``SUCCESS_DISTANCE`` (5 cm) and 0 within
it, as in Gymnasium-Robotics' FetchReach. ``info`` has ``is_success`` (bool, within 5 cm) and
``distance`` after every ``reset`` and ``step``.

Episode: the start pose is the KUKA preset's home pose (envs/robots.py) plus uniform noise of
+-``HOME_NOISE`` rad per joint; the target is uniform in the preset's box ``TARGET_LOW``..
``TARGET_HIGH`` (x 0.35..0.75, y -0.3..0.3, z 0.2..0.6 m: 0.4 x 0.6 x 0.4 m in front of the arm,
every point reachable, checked by IK in the tests). Like FetchReach the episode never terminates
on success (``terminated`` is always False): the policy must reach *and stay*, and Gymnasium's
TimeLimit truncates it after the registered ``max_episode_steps`` (50 steps = 2 s). All
randomness comes from ``self.np_random``, so ``reset(seed=s)`` followed by the same actions
reproduces the observations bit for bit.

The parts are v1's (the arm of envs/arm.py, the point task of envs/tasks.py, composed by
envs/reach.py) without the floor, self-collision and collision reports that v1 adds; the names in
capitals live there. tests/test_env.py replays a recording made before they were shared, bit for
bit.

Timing choices: control at 25 Hz, 4 physics substeps of 10 ms each (the largest timestep and
fewest substeps that keep the motion smooth). At 10 ms the position motors (gain
``POSITION_GAIN``) follow a 0.05 rad command with under 0.02 rad of lag and settle within two
control steps; a control step costs ~0.1 ms, so PPO's 200k steps take ~20 s of simulation, where
1/240 s x 10 substeps would cost 2.5 times as much for the same task. With the lag a joint moves
up to ~0.04 rad (~2 cm at the flange) per step: an IK controller reaches any target in at most
~20 steps, well inside the 50-step limit, while a uniformly random policy almost never does.
"""

import numpy as np

from envs.reach import ReachEnv
from envs.robots import PRESETS, load_arm
from envs.tasks import SUCCESS_DISTANCE, PointTask

KUKA = PRESETS["kuka_iiwa"]
TARGET_LOW, TARGET_HIGH = np.array(KUKA.target_low), np.array(KUKA.target_high)
# The flange is 1.26 m from the base with the arm stretched upwards; 1.3 m bounds every pose.
REACH = 1.3


class ArmReachEnv(ReachEnv):
    """Reach a random point with the flange of a KUKA iiwa; see the module docstring."""

    def __init__(
        self,
        render_mode: str | None = None,
        reward_type: str = "dense",
        width: int = 320,
        height: int = 240,
    ) -> None:
        super().__init__(render_mode, reward_type, width, height)
        self._connect()
        arm = load_arm(self.client, "kuka_iiwa", None, self_collision=False, floor=None)
        arm.set_home(np.array(KUKA.home_pose))
        task = PointTask(arm, TARGET_LOW, TARGET_HIGH, SUCCESS_DISTANCE, reward_type)
        self._compose(arm, task, REACH)
        self._frame_view([0.3, 0.0, 0.35], distance=1.3, far=5.0)
