"""Registers the project's environments with Gymnasium: ``import envs`` makes
``gymnasium.make("ArmReach-v0")`` (dense reward) and ``"ArmReachSparse-v0"`` work."""

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
