"""Registers the project's environments with Gymnasium: ``import envs`` makes
``gymnasium.make("ArmReach-v0")`` (dense reward), ``"ArmReachSparse-v0"`` and
``gymnasium.make("ArmReach-v1", robot=...)`` (any arm, on a floor; envs/arm_reach_v1.py) work."""

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
