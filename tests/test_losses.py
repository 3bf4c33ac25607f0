"""The policy objective on constructed data: the clip, the KL early stop, the adaptive penalty."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.optim import Adam

import core
import ppo
from utils.mpi import flat_grad_buffer

pytestmark = pytest.mark.fast


def constructed_batch(ratios, advs, seed=0):
    """A batch for a real actor-critic whose probability ratios pi/pi_old are exactly `ratios`.

    The actions are drawn from the policy itself, as in a rollout.
    """
    torch.manual_seed(seed)
    ac = core.MLPActorCritic(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2,)), (8,))
    obs = torch.randn(len(ratios), 3)
    with torch.no_grad():
        pi, _ = ac.pi(obs)
        act = pi.sample()
        _, logp = ac.pi(obs, act)
    logp_old = logp - torch.log(torch.as_tensor(ratios, dtype=torch.float32))
    data = dict(obs=obs, act=act, adv=torch.as_tensor(advs, dtype=torch.float32), logp=logp_old)
    return ac, data


def policy_steps(ac, data, optimizer, passes, target_kl, minibatches=1, **kwargs):
    """ppo.take_gradient_steps on the policy alone (no value passes); returns the steps taken."""
    return ppo.take_gradient_steps(
        ac,
        (optimizer, Adam(ac.v.parameters())),
        data,
        clip_ratio=0.2,
        train_pi_iters=passes,
        train_v_iters=0,
        minibatches=minibatches,
        target_kl=target_kl,
        **kwargs,
    )


def test_clipped_loss_matches_hand_computed_surrogate_and_clip_fraction():
    ratios = [0.5, 0.9, 1.0, 1.1, 1.5, 1.5, 0.5]
    advs = [1.0, 1.0, -2.0, 1.0, 1.0, -1.0, -1.0]
    ac, data = constructed_batch(ratios, advs)
    loss, kl = ppo.compute_loss_pi(ac, data, clip_ratio=0.2)
    info = ppo.pi_diagnostics(ac, data, clip_ratio=0.2)
    # min(r*A, clip(r, 0.8, 1.2)*A) term by term:
    expected_terms = [0.5, 0.9, -2.0, 1.1, 1.2, -1.5, -0.8]
    assert loss.item() == pytest.approx(-np.mean(expected_terms), rel=1e-5)
    assert info["cf"] == pytest.approx(4 / 7)  # 0.5, 1.5, 1.5, 0.5 lie outside [0.8, 1.2]
    assert info["kl"] == pytest.approx(-np.mean(np.log(ratios)), rel=1e-5)
    assert kl.item() == pytest.approx(info["kl"])


def test_clipped_loss_has_no_gradient_once_the_ratio_is_past_the_clip_in_the_advantage_direction():
    ac, data = constructed_batch([1.5, 1.5], [1.0, 1.0])  # already past 1 + eps with A > 0
    loss, _ = ppo.compute_loss_pi(ac, data, clip_ratio=0.2)
    loss.backward()
    assert all(p.grad is None or torch.all(p.grad == 0) for p in ac.pi.parameters())

    ac, data = constructed_batch([1.5, 1.5], [-1.0, -1.0])  # past the clip but A < 0: pull back
    loss, _ = ppo.compute_loss_pi(ac, data, clip_ratio=0.2)
    loss.backward()
    assert any(p.grad is not None and torch.any(p.grad != 0) for p in ac.pi.parameters())


def test_kl_early_stopping_stops_before_first_step_over_limit():
    ac, data = constructed_batch([1.0] * 256, list(np.random.default_rng(0).normal(size=256)))
    reference = copy.deepcopy(ac)
    optimizer = Adam(ac.pi.parameters(), lr=0.05)
    # At step 0 pi == pi_old, so the KL is 0 and one step is taken; after that step the KL
    # exceeds 1.5 * 1e-9 and the update must stop before a second gradient step.
    steps = policy_steps(ac, data, optimizer, passes=80, target_kl=1e-9)
    assert steps == 1

    ref_optimizer = Adam(reference.pi.parameters(), lr=0.05)
    ref_optimizer.zero_grad()
    ppo.compute_loss_pi(reference, data, 0.2)[0].backward()
    ref_optimizer.step()
    for p, q in zip(ac.pi.parameters(), reference.pi.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_kl_early_stopping_lets_every_step_run_under_a_generous_target():
    ac, data = constructed_batch([1.0] * 256, list(np.random.default_rng(0).normal(size=256)))
    optimizer = Adam(ac.pi.parameters(), lr=1e-4)
    steps = policy_steps(ac, data, optimizer, passes=5, target_kl=10.0)
    assert steps == 5


def test_penalty_loss_is_surrogate_plus_beta_times_kl_and_does_not_stop_early():
    ratios, advs = [0.5, 1.0, 2.0], [1.0, -1.0, 1.0]
    ac, data = constructed_batch(ratios, advs)
    loss, kl = ppo.compute_loss_pi(ac, data, clip_ratio=0.2, loss="penalty", beta=3.0)
    surrogate = -np.mean(np.multiply(ratios, advs))
    assert loss.item() == pytest.approx(surrogate + 3.0 * kl.item(), rel=1e-5)

    optimizer = Adam(ac.pi.parameters(), lr=0.05)
    steps = policy_steps(ac, data, optimizer, passes=7, target_kl=1e-9, loss="penalty", beta=3.0)
    assert steps == 7


@pytest.mark.parametrize("kl, expected", [(0.001, 0.5), (0.01, 1.0), (0.1, 2.0)])
def test_kl_penalty_coefficient_halves_under_and_doubles_over_the_target(kl, expected):
    assert ppo.adapt_kl_penalty(1.0, kl, target_kl=0.01) == expected


def test_each_minibatch_pass_uses_every_transition_exactly_once_in_a_new_order():
    data = dict(obs=torch.arange(10.0)[:, None], ret=torch.arange(10.0))
    batches = list(core.minibatches_of(data, passes=3, minibatches=4))
    assert len(batches) == 12
    assert sorted(len(b["ret"]) for b in batches[:4]) == [2, 2, 3, 3]
    orders = []
    for p in range(3):
        seen = torch.cat([b["ret"] for b in batches[4 * p : 4 * p + 4]])
        assert sorted(seen.tolist()) == list(range(10))  # every transition once per pass
        for b in batches[4 * p : 4 * p + 4]:
            assert (b["obs"][:, 0] == b["ret"]).all()  # fields stay aligned
        orders.append(seen.tolist())
    assert orders[0] != orders[1] or orders[1] != orders[2], "passes are shuffled anew"
    # One minibatch: the whole batch as it is, once per pass (Spinning Up's full-batch steps).
    assert all(b is data for b in core.minibatches_of(data, passes=2, minibatches=1))


def test_kl_early_stopping_is_checked_before_every_minibatch_step():
    ac, data = constructed_batch([1.0] * 256, list(np.random.default_rng(0).normal(size=256)))
    optimizer = Adam(ac.pi.parameters(), lr=0.05)
    # The first minibatch step sees pi == pi_old (KL 0) and is taken; it moves the policy, so
    # the check before the second minibatch of the same pass stops the update.
    steps = policy_steps(ac, data, optimizer, passes=10, target_kl=1e-9, minibatches=8)
    assert steps == 1
    optimizer = Adam(ac.pi.parameters(), lr=1e-5)
    steps = policy_steps(ac, data, optimizer, passes=3, target_kl=10.0, minibatches=8)
    assert steps == 3 * 8  # a generous target: every minibatch of every pass


def test_gradient_norm_clipping_bounds_the_step_of_each_network():
    ac, data = constructed_batch([1.0] * 64, list(np.random.default_rng(1).normal(size=64) * 100))
    optimizer = torch.optim.SGD(ac.pi.parameters(), lr=1.0)
    before = torch.cat([p.detach().flatten().clone() for p in ac.pi.parameters()])
    policy_steps(ac, data, optimizer, passes=1, target_kl=10.0, max_grad_norm=0.5)
    after = torch.cat([p.detach().flatten() for p in ac.pi.parameters()])
    # Plain SGD with lr 1: the step is the clipped gradient, whose norm is at most 0.5.
    assert (after - before).norm().item() == pytest.approx(0.5, rel=1e-4)


def test_one_backward_pass_for_both_networks_trains_each_as_if_alone():
    """take_gradient_steps steps both networks on the same minibatches with one backward pass and
    one Allreduce; the networks share no parameter, so each ends exactly where it would have
    been trained on its own, with the same minibatches."""
    ac, data = constructed_batch([1.0] * 96, list(np.random.default_rng(2).normal(size=96)))
    data["ret"] = torch.randn(96)
    kwargs = dict(clip_ratio=0.2, minibatches=4, target_kl=10.0, max_grad_norm=0.5)
    trained = {}
    for pi_passes, v_passes in [(3, 3), (3, 0), (0, 3)]:
        net = copy.deepcopy(ac)
        torch.manual_seed(7)  # the same shuffles every time
        optimizers = (Adam(net.pi.parameters(), lr=1e-2), Adam(net.v.parameters(), lr=1e-2))
        ppo.take_gradient_steps(
            net, optimizers, data, train_pi_iters=pi_passes, train_v_iters=v_passes, **kwargs
        )
        trained[pi_passes, v_passes] = net
    for name in ["pi", "v"]:
        alone = trained[(3, 0)] if name == "pi" else trained[(0, 3)]
        together = getattr(trained[(3, 3)], name).parameters()
        for p, q in zip(together, getattr(alone, name).parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
        assert any(
            not torch.equal(p, q)
            for p, q in zip(
                getattr(ac, name).parameters(), getattr(alone, name).parameters(), strict=True
            )
        ), f"{name} should have been trained"


def test_clipping_a_networks_slice_of_the_flat_gradient_matches_torchs_clip_grad_norm():
    """take_gradient_steps clips each network's gradient on its part of the flat buffer: the same
    rule as torch's clip_grad_norm_ on the network's parameters, and the other network's part
    (here under its limit) is left alone."""
    ac, data = constructed_batch([1.0] * 64, list(np.random.default_rng(3).normal(size=64) * 100))
    data["ret"] = torch.randn(64)
    reference = copy.deepcopy(ac)
    for net in (ac, reference):
        loss_pi, _ = ppo.compute_loss_pi(net, data, clip_ratio=0.2)
        (loss_pi + ppo.compute_loss_v(net, data)).backward()
    flat, (pi_grad, v_grad) = flat_grad_buffer([ac.pi, ac.v], extra=1)
    v_norm = v_grad.norm().item()
    assert pi_grad.norm().item() > 0.5, "the policy's gradient should be long enough to clip"
    torch.nn.utils.clip_grad_norm_(reference.pi.parameters(), 0.5)
    core.clip_norm_(pi_grad, 0.5)
    core.clip_norm_(v_grad, 2 * v_norm)
    for p, q in zip(ac.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-8)
    assert pi_grad.norm().item() == pytest.approx(0.5, rel=1e-5)
    assert flat.numel() == pi_grad.numel() + v_grad.numel() + 1
