"""Every random stream of a run from one SeedSequence: no two seeds, ranks or envs share one."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers ArmReach-v0)
from utils.seeding import env_seeds, evaluation_seed, rank_seeds

pytestmark = pytest.mark.fast


def test_no_two_seeds_ranks_or_envs_draw_the_same_targets():
    # Two neighbouring seeds, 2 ranks of 4 envs each: every env's first 3 targets.
    env = gym.make("ArmReach-v0")
    targets = []
    for seed in (0, 1):
        for rank in (0, 1):
            for reset_seed in env_seeds(seed, first=4 * rank, count=4):
                env.reset(seed=reset_seed)
                targets.append(env.unwrapped.target_pos.copy())
                for _ in range(2):
                    env.reset()
                    targets.append(env.unwrapped.target_pos.copy())
    env.close()
    assert len(targets) == 48
    assert len({tuple(t) for t in targets}) == 48


def test_an_envs_stream_depends_on_its_index_over_all_ranks_not_on_the_ranks():
    # Env 5 is rank 1's second env with 4 envs per rank, and rank 2's first with 2 per rank.
    assert env_seeds(0, first=4, count=4)[1] == env_seeds(0, first=4, count=2)[1]
    assert env_seeds(0, 0, 8) == env_seeds(0, 0, 2) + env_seeds(0, 2, 6)


def test_torch_numpy_and_evaluation_streams_differ_between_seeds_and_ranks():
    torch_seeds = {rank_seeds(seed, rank)[0] for seed in range(3) for rank in range(3)}
    numpy_seeds = {tuple(rank_seeds(seed, rank)[1]) for seed in range(3) for rank in range(3)}
    assert len(torch_seeds) == len(numpy_seeds) == 9
    evaluation = {evaluation_seed(seed) for seed in range(3)}
    training = {s for seed in range(3) for s in env_seeds(seed, 0, 40)}
    assert len(evaluation) == 3 and not evaluation & training
    # Gymnasium seeds a generator with any non-negative int: these are 128-bit ones.
    assert all(0 <= s < 2**128 for s in evaluation | training)
    assert np.random.default_rng(evaluation_seed(0)).random() != np.random.default_rng(0).random()
