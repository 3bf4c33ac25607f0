"""Checks that need several ranks, run by tests/test_mpi.py.

`mpirun -np 2 python -m tests.mpi_checks NAME` runs the function check_NAME on both ranks.

Each check raises AssertionError on a failure; the excepthook then aborts the whole job with a
non-zero exit, which the pytest side reports with this output.
"""

import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import core
import ppo
from utils.mpi import (
    abort_all_ranks_on_error,
    broadcast,
    gather,
    mpi_avg_grads,
    mpi_avg_grads_per_parameter,
    mpi_statistics_scalar,
    num_procs,
    proc_id,
    sync_params,
)


def flat_params(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()]).numpy()


def check_gradient_averages():
    """The fused Allreduce gives the same gradients as one Allreduce per parameter, and both
    equal the mean of every rank's own gradient."""
    torch.manual_seed(100 + proc_id())  # different init per rank ...
    obs_space, act_space = gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-1, 1, (3,))
    fused = core.MLPActorCritic(obs_space, act_space, (32, 16))
    sync_params(fused)  # ... made identical here
    per_param = core.MLPActorCritic(obs_space, act_space, (32, 16))
    per_param.load_state_dict(fused.state_dict())
    assert len(set(map(bytes, gather(flat_params(fused)) or []))) <= 1

    obs, act = torch.randn(64, 5), torch.randn(64, 3)  # rank-dependent data and gradients
    for model in (fused, per_param):
        model.pi(obs, act)[1].mean().backward()
        model.v(obs).pow(2).mean().backward()
    own = torch.cat([p.grad.reshape(-1) for p in fused.parameters()]).numpy().copy()

    mpi_avg_grads(fused)
    mpi_avg_grads_per_parameter(per_param)
    fused_grads = torch.cat([p.grad.reshape(-1) for p in fused.parameters()]).numpy()
    per_param_grads = torch.cat([p.grad.reshape(-1) for p in per_param.parameters()]).numpy()
    np.testing.assert_allclose(fused_grads, per_param_grads, rtol=1e-6, atol=1e-7)
    everyone = gather(own)
    expected = broadcast(np.mean(everyone, axis=0) if proc_id() == 0 else None)
    np.testing.assert_allclose(fused_grads, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(own, expected), "the ranks' gradients should have differed"

    # Over several optimizer steps, with .grad kept as views of the fused buffer, both ways
    # still train the same parameters.
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in (fused, per_param)]
    for _ in range(4):
        obs, act = torch.randn(64, 5), torch.randn(64, 3)
        for model, optimizer, average in zip(
            (fused, per_param),
            optimizers,
            (mpi_avg_grads, mpi_avg_grads_per_parameter),
            strict=True,
        ):
            optimizer.zero_grad(set_to_none=False)
            (model.pi(obs, act)[1].mean() + model.v(obs).pow(2).mean()).backward()
            average(model)
            optimizer.step()
    np.testing.assert_allclose(flat_params(fused), flat_params(per_param), rtol=1e-5, atol=1e-6)


def check_statistics_over_ranks():
    rng = np.random.default_rng(proc_id())
    x = rng.normal(loc=proc_id() * 5, size=10 + 7 * proc_id())  # different sizes per rank
    mean, std, lo, hi = mpi_statistics_scalar(x, with_min_and_max=True)
    everything = np.concatenate(broadcast(gather(x)))
    np.testing.assert_allclose(
        [mean, std, lo, hi],
        [everything.mean(), everything.std(), everything.min(), everything.max()],
    )
    assert np.isnan(mpi_statistics_scalar([])[0])  # no episode finished anywhere: NaN, no crash

    rms = core.RunningMeanStd((3,))
    batch = rng.normal(loc=proc_id(), size=(20 + 5 * proc_id(), 3))
    rms.record(batch)
    ppo.sync_normalizers(None, rms)  # None: no such normalizer, skipped
    everything = np.concatenate(broadcast(gather(batch)))
    np.testing.assert_allclose(rms.mean.numpy(), everything.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(rms.var.numpy(), everything.var(axis=0), rtol=1e-10)

    # Advantages are normalized with the mean and std over all ranks, not per rank.
    buf = core.PPOBuffer(1, (1,), 4, gamma=1.0, lam=1.0)
    for _ in range(4):
        buf.store(np.zeros((1, 1)), np.zeros((1, 1)), [1.0 + 10 * proc_id()], [0.0], [0.0])
    buf.finish_path(0, 0.0)
    adv = ppo.normalize_advantages(buf.get())["adv"].numpy()
    all_adv = np.concatenate(broadcast(gather(adv)))
    assert abs(all_adv.mean()) < 1e-5 and abs(all_adv.std() - 1) < 1e-4
    assert abs(adv.mean()) > 0.5, "per-rank advantages must not be centred on their own"


def check_ranks_end_with_identical_parameters():
    out = broadcast(tempfile.mkdtemp() if proc_id() == 0 else None)
    ac = ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        ac_kwargs=dict(hidden_sizes=(32, 32)),
        steps_per_epoch=400,
        epochs=2,
        train_pi_iters=5,
        train_v_iters=5,
        num_envs=4,
        logger_kwargs=dict(output_dir=out),
    )
    params = gather(np.concatenate([flat_params(ac), ac.obs_rms.mean.numpy()]))
    if proc_id() == 0:
        assert all(np.array_equal(params[0], p) for p in params[1:]), "ranks diverged"


def check_ranks_end_with_identical_parameters_after_minibatch_updates():
    """Shuffled minibatches differ per rank (each its own generator), the averaged gradients
    and the clipped steps do not; the KL stop is taken by all ranks at the same step."""
    out = broadcast(tempfile.mkdtemp() if proc_id() == 0 else None)
    ac = ppo.ppo(
        lambda: gym.make("ArmReach-v0"),
        ac_kwargs=dict(hidden_sizes=(32, 32)),
        steps_per_epoch=800,
        epochs=2,
        train_pi_iters=4,
        train_v_iters=4,
        minibatches=5,
        max_grad_norm=0.5,
        anneal_lr=True,
        num_envs=8,
        logger_kwargs=dict(output_dir=out),
    )
    params = gather(np.concatenate([flat_params(ac), ac.obs_rms.mean.numpy()]))
    if proc_id() == 0:
        assert all(np.array_equal(params[0], p) for p in params[1:]), "ranks diverged"
        header, *rows = (Path(out) / "progress.txt").read_text().splitlines()
        stop_iter = [float(r.split("\t")[header.split("\t").index("StopIter")]) for r in rows]
        assert all(0 < s <= 4 * 5 for s in stop_iter), stop_iter


def check_failing_rank_stops_the_job():
    """Rank 1's env raises mid-epoch while rank 0 goes on: the job must end, not hang."""
    from tests.faulty_envs import arm_reach_with_fault

    env_fn = (
        arm_reach_with_fault("raise", 30) if proc_id() == 1 else lambda: gym.make("ArmReach-v0")
    )
    out = broadcast(tempfile.mkdtemp() if proc_id() == 0 else None)
    ppo.ppo(env_fn, steps_per_epoch=800, epochs=5, quiet=True, logger_kwargs=dict(output_dir=out))


if __name__ == "__main__":
    abort_all_ranks_on_error()
    assert num_procs() == 2, "run under mpirun -np 2"
    globals()[f"check_{sys.argv[1]}"]()
    if proc_id() == 0:
        print(f"OK {sys.argv[1]}")
