"""Every random stream of a run, from one `numpy.random.SeedSequence` of its seed.

Each stream is a child of the run's seed with its own spawn key, so that no two seeds, ranks or
envs share one (`seed + k` schemes make env k of seed s env k+1 of seed s-1):

    (ENV, g)        the g-th env of the run, counted over all ranks: its first reset's seed
    (TORCH, r)      rank r's torch generator (minibatch shuffles, the Gaussian's samples)
    (NUMPY, r)      rank r's global numpy generator (for the user's code; ppo() draws none)
    (EVALUATION,)   evaluation episode i resets with evaluation_seed(seed) + i

An env's stream does not depend on the number of ranks, and neither do the evaluation's episodes.
"""

from __future__ import annotations

import numpy as np

ENV, TORCH, NUMPY, EVALUATION = range(4)


def stream(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=key)


def reset_seed(seed: int, *key: int) -> int:
    """A 128-bit integer for `env.reset(seed=...)` (Gymnasium seeds its generator with it)."""
    high, low = stream(seed, *key).generate_state(2, np.uint64)
    return int(high) << 64 | int(low)


def env_seeds(seed: int, first: int, count: int) -> list[int]:
    """The first-reset seeds of the run's envs first .. first + count - 1."""
    return [reset_seed(seed, ENV, g) for g in range(first, first + count)]


def evaluation_seed(seed: int) -> int:
    """Evaluation episode i of a run with this seed resets with evaluation_seed(seed) + i."""
    return reset_seed(seed, EVALUATION)


def rank_seeds(seed: int, rank: int) -> tuple[int, np.ndarray]:
    """Rank `rank`'s seeds of torch's generator and numpy's global one."""
    torch_seed = int(stream(seed, TORCH, rank).generate_state(1, np.uint64)[0])
    return torch_seed, stream(seed, NUMPY, rank).generate_state(4)
