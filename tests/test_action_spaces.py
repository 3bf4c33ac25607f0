"""Action spaces: each is trained correctly, or refused in one line that says what to do."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete, MultiBinary, MultiDiscrete

import ppo
from utils.test_policy import policy_function, run_policy


class MatchTheAction(gym.Env):
    """Rewards an action near a fixed one; every action the env gets must lie in its space."""

    def __init__(self, action_space):
        self.action_space = action_space
        self.observation_space = Box(-1.0, 1.0, (3,), np.float32)
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action), f"{action!r} is not in {self.action_space}"
        self.steps += 1
        if isinstance(self.action_space, Box):
            reward = -float(np.abs(action - 0.5).sum())  # best: every entry at 0.5
        else:
            reward = float(action == self.action_space.start + 1)  # best: the second action
        return np.zeros(3, np.float32), reward, False, self.steps >= 20, {}


@pytest.mark.parametrize(
    "space",
    [Box(-1.0, 1.0, (2, 3), np.float32), Discrete(3, start=-5)],
    ids=["Box(2, 3)", "Discrete(start=-5)"],
)
def test_a_box_of_several_dimensions_and_a_discrete_with_a_start_are_learned(tmp_path, space):
    ac = ppo.ppo(
        lambda: MatchTheAction(space),
        epochs=15,
        steps_per_epoch=400,
        num_envs=4,
        quiet=True,
        logger_kwargs=dict(output_dir=str(tmp_path)),
    )
    # Over 20 steps: Box from -60 (the mean at 0, 0.5 off on each of 6 entries) to within 0.15
    # per entry; Discrete from about 7 (a third of the actions right) to all of them.
    result = run_policy(MatchTheAction(space), policy_function(ac, space), episodes=2)
    assert result["avg_return"] > (-18 if isinstance(space, Box) else 19), result["avg_return"]


@pytest.mark.parametrize(
    "space, what", [(MultiDiscrete([3, 4]), "MultiDiscrete"), (MultiBinary(4), "MultiBinary")]
)
def test_multidiscrete_and_multibinary_actions_are_refused_with_what_to_do(tmp_path, space, what):
    with pytest.raises(ValueError, match=f"needs a Box or Discrete action space, got {what}") as e:
        ppo.ppo(lambda: MatchTheAction(space), logger_kwargs=dict(output_dir=str(tmp_path)))
    assert "wrap the env so that its actions are one Discrete" in str(e.value)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # no litter
