"""Registers the project's environments with Gymnasium: ``import envs`` makes
``gymnasium.make("ArmReach-v0")`` (dense reward), ``"ArmReachSparse-v0"`` and
``gymnasium.make("ArmReach-v1", robot=...)`` (any arm, on a floor; envs/arm_reach_v1.py) work."""

import warnings

import gymnasium

# 50 control steps = 2 s at 25 Hz: about three times what a good policy needs for the farthest
# target (see envs/arm_reach.py), as in Gymnasium-Robotics' FetchReach.
MAX_EPISODE_STEPS = 50

gymnasium.register(
    id="ArmReach-v0",
    entry_point="envs.arm_reach:ArmReachEnv",
    max_episode_steps=MAX_EPISODE_STEPS,
)
gymnasium.register(
    id="ArmReachSparse-v0",
    entry_point="envs.arm_reach:ArmReachEnv",
    max_episode_steps=MAX_EPISODE_STEPS,
    kwargs={"reward_type": "sparse"},
)
# The same 2 s suffice for every shipped arm (tests/test_env_v1.py: an IK controller reaches
# the targets well within it).
gymnasium.register(
    id="ArmReach-v1",
    entry_point="envs.arm_reach_v1:ArmReachV1Env",
    max_episode_steps=MAX_EPISODE_STEPS,
)
# Gymnasium tells every make("ArmReach-v0") to upgrade once a v1 exists. v0 stays supported and
# frozen (the same seed and actions give the same observations), and v1 is a different task
# (a floor, collisions, any arm), not a fix of v0: the advice would be noise in every v0 run.
warnings.filterwarnings("ignore", message=r".*The environment ArmReach-v0 is out of date")
