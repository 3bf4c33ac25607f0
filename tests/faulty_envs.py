"""Real environments that go wrong on purpose: ArmReach-v0 with a fault after some steps."""

import gymnasium as gym
import numpy as np


class FaultAfter(gym.Wrapper):
    """After `steps` steps: 'nan' observations, 'huge' rewards (their sums overflow float32),
    or 'raise' a RuntimeError, as a crashing simulator would."""

    def __init__(self, env: gym.Env, fault: str, steps: int):
        super().__init__(env)
        self.fault, self.steps_left = fault, steps

    def step(self, action):
        obs, rew, terminated, truncated, info = self.env.step(action)
        self.steps_left -= 1
        if self.steps_left < 0:
            if self.fault == "nan":
                obs = np.full_like(obs, np.nan)
            elif self.fault == "huge":
                rew = 3e38
            elif self.fault == "raise":
                raise RuntimeError("the simulated arm exploded")
        return obs, rew, terminated, truncated, info


def arm_reach_with_fault(fault: str, steps: int):
    return lambda: FaultAfter(gym.make("ArmReach-v0"), fault, steps)
