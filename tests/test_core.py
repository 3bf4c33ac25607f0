"""The math of core.py: discounting, GAE-lambda with terminal vs cut-off paths, the actor-critic."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import core

pytestmark = pytest.mark.fast


def test_discount_cumsum_matches_hand_computed():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        core.discount_cumsum(x, 0.5), [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]
    )


def hand_gae(rews, vals, last_val, gamma, lam):
    """GAE written as the paper's sums, term by term, independently of discount_cumsum."""
    vals = list(vals) + [last_val]
    deltas = [rews[t] + gamma * vals[t + 1] - vals[t] for t in range(len(rews))]
    adv = [
        sum((gamma * lam) ** (j - t) * deltas[j] for j in range(t, len(rews)))
        for t in range(len(rews))
    ]
    rets = [
        sum(gamma ** (j - t) * rews[j] for j in range(t, len(rews)))
        + gamma ** (len(rews) - t) * last_val
        for t in range(len(rews))
    ]
    return np.array(adv), np.array(rets)


def fill(buf, rews, vals, env_index=0, num_envs=1):
    for r, v in zip(rews, vals, strict=True):
        rew = np.zeros(num_envs)
        val = np.zeros(num_envs)
        rew[env_index], val[env_index] = r, v
        buf.store(np.zeros((num_envs, 2)), np.zeros((num_envs, 1)), rew, val, np.zeros(num_envs))


# Three steps, rewards 1, 2, 3; V = 0.5, 1.0, 1.5; gamma 0.9, lambda 0.8. The value targets are
# the rewards-to-go (Spinning Up) or the lambda-returns, advantage + V (the default).
@pytest.mark.parametrize("lambda_returns", [False, True])
def test_terminated_episode_has_zero_value_after_last_step(lambda_returns):
    buf = core.PPOBuffer(2, (1,), 3, gamma=0.9, lam=0.8, lambda_returns=lambda_returns)
    fill(buf, [1.0, 2.0, 3.0], [0.5, 1.0, 1.5])
    buf.finish_path(0, last_val=0.0)
    # delta_2 = 3 - 1.5 = 1.5; delta_1 = 2 + 0.9*1.5 - 1 = 2.35; delta_0 = 1 + 0.9*1 - 0.5 = 1.4
    # adv_2 = 1.5; adv_1 = 2.35 + 0.72*1.5 = 3.43; adv_0 = 1.4 + 0.72*3.43 = 3.8696
    np.testing.assert_allclose(buf.adv_buf[:, 0], [3.8696, 3.43, 1.5], rtol=1e-6)
    if lambda_returns:  # adv + V
        np.testing.assert_allclose(buf.ret_buf[:, 0], [4.3696, 4.43, 3.0], rtol=1e-6)
    else:  # ret_2 = 3; ret_1 = 2 + 0.9*3 = 4.7; ret_0 = 1 + 0.9*4.7 = 5.23
        np.testing.assert_allclose(buf.ret_buf[:, 0], [5.23, 4.7, 3.0], rtol=1e-6)


@pytest.mark.parametrize("lambda_returns", [False, True])
def test_truncated_episode_bootstraps_from_value_of_last_observation(lambda_returns):
    buf = core.PPOBuffer(2, (1,), 3, gamma=0.9, lam=0.8, lambda_returns=lambda_returns)
    fill(buf, [1.0, 2.0, 3.0], [0.5, 1.0, 1.5])
    buf.finish_path(0, last_val=2.0)  # V(s_T) of the observation the time limit cut at
    # delta_2 = 3 + 0.9*2 - 1.5 = 3.3; adv_1 = 2.35 + 0.72*3.3 = 4.726; adv_0 = 1.4 + 0.72*4.726
    adv_0 = 1.4 + 0.72 * 4.726
    np.testing.assert_allclose(buf.adv_buf[:, 0], [adv_0, 4.726, 3.3], rtol=1e-6)
    if lambda_returns:  # adv + V
        np.testing.assert_allclose(buf.ret_buf[:, 0], [adv_0 + 0.5, 5.726, 4.8], rtol=1e-6)
    else:  # ret_2 = 3 + 0.9*2 = 4.8; ret_1 = 2 + 0.9*4.8 = 6.32; ret_0 = 1 + 0.9*6.32 = 6.688
        np.testing.assert_allclose(buf.ret_buf[:, 0], [6.688, 6.32, 4.8], rtol=1e-6)


@pytest.mark.parametrize("lambda_returns", [False, True])
def test_buffer_with_k_envs_gives_each_env_the_advantages_it_would_get_alone(lambda_returns):
    rng = np.random.default_rng(0)
    steps, num_envs, gamma, lam = 20, 3, 0.95, 0.9
    rews = rng.normal(size=(steps, num_envs))
    vals = rng.normal(size=(steps, num_envs))
    ends = rng.random((steps, num_envs)) < 0.2  # an episode ends after this step
    ends[-1] = True  # the epoch cut
    last_vals = rng.normal(size=(steps, num_envs))
    buf = core.PPOBuffer(2, (1,), steps, num_envs, gamma, lam, lambda_returns)
    for t in range(steps):
        buf.store(np.zeros((num_envs, 2)), np.zeros((num_envs, 1)), rews[t], vals[t], np.zeros(3))
        for k in np.flatnonzero(ends[t]):
            buf.finish_path(k, last_vals[t, k])
    for k in range(num_envs):
        start = 0
        for t in np.flatnonzero(ends[:, k]):
            adv, ret = hand_gae(
                rews[start : t + 1, k], vals[start : t + 1, k], last_vals[t, k], gamma, lam
            )
            if lambda_returns:
                ret = adv + vals[start : t + 1, k]
            np.testing.assert_allclose(buf.adv_buf[start : t + 1, k], adv, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(buf.ret_buf[start : t + 1, k], ret, rtol=1e-4, atol=1e-5)
            start = t + 1


def test_get_returns_the_flattened_epoch_and_refuses_an_unfinished_path():
    buf = core.PPOBuffer(2, (1,), 4, num_envs=2, gamma=1.0, lam=1.0)
    for _ in range(4):
        buf.store(np.ones((2, 2)), np.ones((2, 1)), np.array([1.0, -1.0]), np.zeros(2), np.zeros(2))
    buf.finish_path(0, 0.0)
    with pytest.raises(AssertionError, match="finish_path"):
        buf.get()
    buf.finish_path(1, 0.0)
    data = buf.get()
    assert data["obs"].shape == (8, 2) and data["act"].shape == (8, 1)
    # Time-major: step t of env 0, then of env 1. With gamma = lam = 1 and V = 0, the advantage
    # is the reward-to-go, not yet normalized (ppo.normalize_advantages does that over ranks).
    np.testing.assert_array_equal(data["adv"], [4, -4, 3, -3, 2, -2, 1, -1])


@pytest.mark.parametrize(
    "action_space, act_shape",
    [(gym.spaces.Box(-1, 1, (3,)), (5, 3)), (gym.spaces.Discrete(4), (5,))],
)
def test_actor_critic_step_returns_numpy_batches_whose_logp_the_policy_reproduces(
    action_space, act_shape
):
    obs_space = gym.spaces.Box(-np.inf, np.inf, (6,))
    ac = core.MLPActorCritic(obs_space, action_space, hidden_sizes=(16, 16))
    obs = torch.randn(5, 6)
    act, val, logp = ac.step(obs)
    assert isinstance(act, np.ndarray) and act.shape == act_shape
    assert val.shape == (5,) and logp.shape == (5,)
    _, logp_again = ac.pi(obs, torch.as_tensor(act))
    np.testing.assert_allclose(logp_again.detach().numpy(), logp, rtol=1e-5)
    det = ac.act(obs, deterministic=True)
    np.testing.assert_array_equal(det, ac.act(obs, deterministic=True))


def test_actor_critic_rejects_unsupported_action_space():
    obs_space = gym.spaces.Box(-1, 1, (2,))
    with pytest.raises(ValueError, match="Box or Discrete"):
        core.MLPActorCritic(obs_space, gym.spaces.MultiBinary(3))


def test_running_mean_std_matches_numpy_over_several_batches():
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=3.0, scale=2.0, size=(n, 4)) for n in (10, 50, 7)]
    rms = core.RunningMeanStd((4,))
    for batch in batches:
        rms.record(batch[: len(batch) // 2])
        rms.record(batch[len(batch) // 2 :])
        recorded = rms.take_recorded()
        np.testing.assert_array_equal(recorded, batch)  # both records, in order, then cleared
        rms.update(recorded.mean(axis=0), recorded.var(axis=0), len(recorded))
    assert rms.take_recorded().shape == (0, 4)
    everything = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean.numpy(), everything.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(rms.var.numpy(), everything.var(axis=0), rtol=1e-10)
    normalized = rms.normalize(everything)
    assert normalized.dtype == np.float32
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-5)
    assert np.abs(rms.normalize(everything * 1e6)).max() <= rms.clip


def test_reward_scaler_divides_by_the_std_of_the_discounted_return_reset_per_episode():
    scaler = core.RewardScaler(num_envs=2, gamma=0.5)
    over = np.array([False, True])
    # Before any statistics: the variance starts at 1, rewards pass (clipped) unchanged.
    np.testing.assert_allclose(scaler.scale(np.array([2.0, 4.0]), over), [2.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(scaler.scale(np.array([2.0, 4.0]), over), [2.0, 4.0], rtol=1e-6)
    returns = scaler.ret_rms.take_recorded()
    # env 0 discounts 2, then 2 + 0.5 * 2; env 1's episode ends every step, its return restarts.
    np.testing.assert_allclose(returns, [2.0, 4.0, 3.0, 4.0])
    scaler.ret_rms.update(returns.mean(), returns.var(), len(returns))
    scaled = scaler.scale(np.array([1.0, -1.0]), over)
    np.testing.assert_allclose(scaled, np.array([1.0, -1.0]) / returns.std(), rtol=1e-6)
    assert scaled.dtype == np.float32
    assert scaler.scale(np.array([1e9, -1e9]), over).tolist() == [10.0, -10.0]  # the clip
