"""Proximal Policy Optimization (Schulman et al., 2017), Spinning Up style, on Gymnasium and MPI.

Read it top to bottom, in the order an epoch runs: the collection of an epoch's experience; the
normalizers and the advantages; the update (the losses, the gradient steps); evaluation and the
log; then ppo(), the loop that calls them, and the checkpoint's save and restore. Every call in
ppo() that makes a collective MPI call (here, or inside the logger and utils/) is marked
`# collective`: every rank must reach it. Run it:

    python ppo.py --env ArmReach-v0 --cpu 2          # launches 2 MPI ranks itself
    mpirun -np 4 python ppo.py --env ArmReach-v0     # or under your own mpirun

or from a notebook started in this folder: `import ppo; ac = ppo.ppo(lambda: gym.make(...))`.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # check the flags, launch --cpu N ranks, all before importing torch
    try:
        from utils.cli import launch
    except ModuleNotFoundError as e:  # run by a Python without the requirements
        sys.exit(
            f"ppo.py: error: this Python ({sys.executable}) has no module {e.name!r}; run "
            "ppo.py with the project's Python, .venv/bin/python ppo.py (set it up once with "
            "`python3 -m venv .venv && .venv/bin/pip install -r requirements.txt`)."
        )
    launch(sys.argv[1:])

import time
from contextlib import ExitStack

import numpy as np
import torch
from torch.optim import Adam

import core
from core import check_finite
from utils.arguments import PPOArgs, check, documented, make
from utils.checkpoint import Progress, explain_a_stop, load_resume, restore_run, save_run
from utils.cli import run_command_line
from utils.env_batch import EnvBatch, env_record
from utils.env_check import make_env
from utils.logx import EpochLogger, shell_command
from utils.mpi import (
    CtrlC,
    Interrupted,
    flat_grad_buffer,
    mpi_avg,
    mpi_avg_inplace,
    mpi_statistics_scalar,
    mpi_sum,
    num_procs,
    proc_id,
    sync_params,
)
from utils.seeding import env_seeds, evaluation_seed, rank_seeds
from utils.test_policy import evaluate, policy_function


def setup_pytorch_for_mpi() -> None:
    """One torch thread per rank: for networks this small a second thread's synchronization
    costs more than it saves (docs/algorithm.md, "Threads")."""
    torch.set_num_threads(1)


def collect_epoch(ac, envs: EnvBatch, buf, logger, steps, max_ep_len, epoch, rew_scaler=None):
    """Run the policy for `steps` steps in each of the rank's envs; fill the buffer (with the
    rewards scaled by `rew_scaler`, if any), log the finished episodes. Episodes cut by the end
    of the epoch go on in the next one."""
    act_space = envs.action_space
    for t in range(steps):
        obs = envs.obs
        if ac.obs_rms is not None:
            ac.obs_rms.record(obs)
        obs_n = ac.normalize(obs)  # what the networks see, and what the buffer keeps
        act, val, logp = ac.step(obs_n, normalized=True)
        # The action is stored as drawn (its logp is what the ratio needs), the env gets its own.
        next_obs, rew, terminated, truncated, success = envs.step(core.env_action(act, act_space))
        check_finite(f"an observation of the environment (epoch {epoch})", next_obs)
        check_finite(f"a reward of the environment (epoch {epoch})", rew)
        timeout = truncated | (envs.ep_len == max_ep_len)
        if rew_scaler is not None:
            rew = rew_scaler.scale(rew, episode_over=terminated | timeout)
        buf.store(obs_n, act, rew, val, logp)
        logger.store(VVals=val)

        path_over = terminated | timeout | (t == steps - 1)
        # A true terminal state is worth 0 after it. A cut-off (time limit or end of the epoch)
        # is not a terminal state: the return would go on, so bootstrap from V(s_T).
        last_val = np.zeros(len(rew), dtype=np.float32)
        cut = path_over & ~terminated
        if cut.any():
            with torch.no_grad():
                cut_obs = ac.normalize(core.take(next_obs, cut))
                last_val[cut] = ac.v(core.as_tensor(cut_obs)).numpy()
        for k in np.flatnonzero(path_over):
            buf.finish_path(k, last_val[k])
            if terminated[k] or timeout[k]:
                ep_ret, ep_len = envs.end_episode(k)
                logger.store(EpRet=ep_ret, EpLen=ep_len)
                if envs.reports_success:
                    logger.store(SuccessRate=success[k])


def sync_normalizers(*normalizers: core.RunningMeanStd | None) -> None:
    """Fold what every rank recorded this epoch (observations, or discounted returns) into each
    normalizer (None: there is none), so that all ranks normalize with identical statistics.
    Collective."""
    for rms in filter(None, normalizers):
        batch = rms.take_recorded()
        n = mpi_sum(np.array(len(batch), dtype=np.float64))
        if n == 0:
            continue
        batch_mean = mpi_sum(batch.sum(axis=0)) / n
        batch_var = mpi_sum(((batch - batch_mean) ** 2).sum(axis=0)) / n
        rms.update(batch_mean, batch_var, n)


def warm_up_normalizers(ac, envs: EnvBatch, buf, logger, max_ep_len, rew_scaler, progress):
    """One epoch of the untrained policy, not learned from, only to give the normalizers their
    first statistics (docs/algorithm.md); its steps and seconds count in `progress`. Collective."""
    start = time.time()
    collect_epoch(ac, envs, buf, logger, buf.max_size, max_ep_len, 0, rew_scaler)
    buf.get()  # emptied: these steps are not learned from
    sync_normalizers(ac.obs_rms, None if rew_scaler is None else rew_scaler.ret_rms)
    progress.total_env_interacts += int(mpi_sum(buf.max_size * len(envs.envs)))
    progress.elapsed_time += time.time() - start


def normalize_advantages(data: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The epoch's data as tensors, the advantages normalized by their mean and std over ALL
    ranks (the batch is the union of the ranks' data). Collective."""
    # An overflow shows as inf here, which update() reports as a clear error.
    with np.errstate(over="ignore", invalid="ignore"):
        adv_mean, adv_std = mpi_statistics_scalar(data["adv"])
        data = dict(data, adv=(data["adv"] - adv_mean) / (adv_std + 1e-8))
    tensors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in data.items() if k != "obs"}
    return dict(obs=core.as_tensor(data["obs"]), **tensors)  # images stay uint8


def update(ac, optimizers, data, beta: float, args: PPOArgs, state_loss_coef: float) -> dict:
    """One PPO update on the epoch's data (take_gradient_steps), and the log's statistics of the
    losses and the policy before and after. Collective."""
    check_finite("the value targets", data["ret"])
    check_finite("the advantages", data["adv"])
    clip_ratio, loss = args.clip_ratio, args.loss
    with torch.no_grad():
        pi_l_old = compute_loss_pi(ac, data, clip_ratio, loss, beta)[0].item()
        v_l_old = compute_loss_v(ac, data).item()
        state = {"LossState": compute_loss_state(ac, data).item()} if state_loss_coef else {}
    entropy = pi_diagnostics(ac, data, clip_ratio)["ent"]
    stop_iter = take_gradient_steps(
        ac, optimizers, data, clip_ratio=clip_ratio, train_pi_iters=args.train_pi_iters,
        train_v_iters=args.train_v_iters, minibatches=args.minibatches, target_kl=args.target_kl,
        loss=loss, beta=beta, max_grad_norm=args.max_grad_norm, state_loss_coef=state_loss_coef,
    )  # fmt: skip
    with torch.no_grad():
        loss_pi = compute_loss_pi(ac, data, clip_ratio, loss, beta)[0].item()
        loss_v = compute_loss_v(ac, data).item()
    pi_info = pi_diagnostics(ac, data, clip_ratio)
    return dict(LossPi=pi_l_old, LossV=v_l_old, KL=pi_info["kl"], Entropy=entropy,
                ClipFrac=pi_info["cf"], DeltaLossPi=loss_pi - pi_l_old,
                DeltaLossV=loss_v - v_l_old, StopIter=stop_iter, **state)  # fmt: skip


def compute_loss_pi(ac, data, clip_ratio: float, loss: str = "clip", beta: float = 1.0):
    """The policy loss, and beside it the sample estimate of KL(pi_old || pi) on the data pi_old
    collected (both tensors).

    clip:    -E[min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv)]
    penalty: -E[ratio * adv] + beta * KL(pi_old || pi), the PPO paper's adaptive-KL objective.
    """
    obs, act, adv, logp_old = data["obs"], data["act"], data["adv"], data["logp"]
    _, logp = ac.pi(obs, act)
    ratio = torch.exp(logp - logp_old)
    approx_kl = (logp_old - logp).mean()
    if loss == "clip":
        clip_adv = torch.clamp(ratio, 1 - clip_ratio, 1 + clip_ratio) * adv
        return -(torch.min(ratio * adv, clip_adv)).mean(), approx_kl
    return -(ratio * adv).mean() + beta * approx_kl, approx_kl


def compute_loss_state(ac, data):
    """Mean squared error of the actor's guess of the privileged state against that state (both
    normalized), over the entries the actor does not read already (ArmReach-v1's pixels: the
    target, not the arm's proprioception): a supervised signal that teaches the actor's CNN
    where things are. The guess reads the features of the actor's last forward pass: call it
    right after compute_loss_pi on the same data."""
    hidden = ac.hidden_state_entries(data["obs"])
    return ((ac.predict_state() - data["obs"][core.CRITIC_KEY])[..., hidden] ** 2).mean()


def compute_loss_v(ac, data):
    """Mean squared error of V(obs) against its targets (the buffer's `ret`)."""
    return ((ac.v(data["obs"]) - data["ret"]) ** 2).mean()


@torch.no_grad()
def pi_diagnostics(ac, data, clip_ratio: float) -> dict:
    """What progress.txt shows of the policy on the epoch's data: the approx KL from pi_old, the
    entropy, and the fraction of probability ratios outside the clip range."""
    pi, logp = ac.pi(data["obs"], data["act"])
    ratio = torch.exp(logp - data["logp"])
    clipped = ratio.gt(1 + clip_ratio) | ratio.lt(1 - clip_ratio)
    return dict(
        kl=(data["logp"] - logp).mean().item(),
        ent=pi.entropy().mean().item(),
        cf=clipped.float().mean().item(),
    )


def take_gradient_steps(
    ac,
    optimizers,
    data,
    *,
    clip_ratio,
    train_pi_iters,
    train_v_iters,
    minibatches,
    target_kl,
    loss="clip",
    beta=1.0,
    max_grad_norm=0.0,
    state_loss_coef=0.0,
) -> int:
    """train_pi_iters (train_v_iters) passes over the data for the policy (the value function),
    each of `minibatches` steps; returns the policy's steps. One backward pass of the summed
    losses and ONE Allreduce of both gradients and the KL per step; with the clipped loss the
    policy stops before the first step whose KL, averaged over ranks, exceeds 1.5 * target_kl
    (docs/algorithm.md, "The update"). Collective."""
    pi_optimizer, vf_optimizer = optimizers
    pi_steps, pi_stopped = 0, False
    zero, passes = torch.zeros(()), max(train_pi_iters, train_v_iters)
    # Both networks' gradients, then one slot for the KL: the .grad tensors are views of it.
    flat, (pi_grad, v_grad) = flat_grad_buffer([ac.pi, ac.v], extra=1)
    for step, batch in enumerate(core.minibatches_of(data, passes, minibatches)):
        pi_on = not pi_stopped and step < train_pi_iters * minibatches
        v_on = step < train_v_iters * minibatches
        if not (pi_on or v_on):
            break
        loss_pi, kl = compute_loss_pi(ac, batch, clip_ratio, loss, beta) if pi_on else (zero, zero)
        if pi_on and state_loss_coef > 0:
            loss_pi = loss_pi + state_loss_coef * compute_loss_state(ac, batch)
        loss_v = compute_loss_v(ac, batch) if v_on else zero
        (loss_pi + loss_v).backward()
        flat[-1] = kl.detach()
        mpi_avg_inplace(flat)
        check_finite("the gradients or the KL", flat)  # a NaN loss shows here too
        if pi_on and loss == "clip" and flat[-1].item() > 1.5 * target_kl:
            pi_on, pi_stopped = False, True
        for on, grad, optimizer in [(pi_on, pi_grad, pi_optimizer), (v_on, v_grad, vf_optimizer)]:
            if on:
                if max_grad_norm > 0:
                    core.clip_norm_(grad, max_grad_norm)
                optimizer.step()
        pi_steps += pi_on
        flat.zero_()  # every .grad at once: they are views of `flat`
    return pi_steps


def adapt_kl_penalty(beta: float, kl: float, target_kl: float) -> float:
    """The PPO paper's rule: halve beta when the KL came out well under target, double it over."""
    if kl < target_kl / 1.5:
        return beta / 2
    if kl > target_kl * 1.5:
        return beta * 2
    return beta


def log_epoch(logger, progress: Progress, args: PPOArgs, state_loss: bool, steps_per_sec) -> None:
    """One row of progress.txt: Spinning Up's columns, then ours (LossState with the actor's
    state loss, KLBeta with the penalty loss, Eval... with evaluation). Collective (statistics
    over ranks)."""
    reports_success = progress.reports_success
    logger.log_tabular("Epoch", progress.epoch)
    logger.log_tabular("EpRet", with_min_and_max=True)
    logger.log_tabular("EpLen", average_only=True)
    if reports_success:
        logger.log_tabular("SuccessRate", average_only=True)
    logger.log_tabular("VVals", with_min_and_max=True)
    logger.log_tabular("TotalEnvInteracts", progress.total_env_interacts)
    update = ["LossPi", "LossV", "DeltaLossPi", "DeltaLossV", "Entropy", "KL", "ClipFrac"]
    for key in [*update, "StopIter"] + (["LossState"] if state_loss else []):
        logger.log_tabular(key, average_only=True)
    if args.loss == "penalty":
        logger.log_tabular("KLBeta", progress.kl_beta)
    if args.eval_freq > 0:
        evaluation = ["EvalEpRet", "EvalEpLen"] + (["EvalSuccessRate"] if reports_success else [])
        for key in [*evaluation, "EvalTime"]:
            logger.log_tabular(key, average_only=True)
    logger.log_tabular("StepsPerSec", steps_per_sec)
    logger.log_tabular("Time", progress.elapsed_time)
    logger.dump_tabular()


@documented
def ppo(env_fn, **kwargs):
    """Proximal Policy Optimization (by clipping or by an adaptive KL penalty), with early stopping
    based on approximate KL. Runs in one process, or on every rank of an MPI job.

    Args:
        env_fn: A function that makes a copy of the environment (Gymnasium API, a flat Box
            observation space or a Dict of images and flat Boxes, a Box or Discrete action space).
        **kwargs: The arguments of utils.arguments.PPOArgs, which help(ppo.ppo) lists here.

    Returns:
        The trained actor-critic (a torch.nn.Module); ``ac.act(obs, deterministic=True)`` takes
        raw observations, as the env returns them.
    """
    args = make(kwargs)
    check(args, num_procs())
    setup_pytorch_for_mpi()
    config = dict(env_fn=env_fn, **vars(args))
    checkpoint, schedule = None, None
    if args.resume is not None:
        checkpoint, config["resumed"], schedule = load_resume(args, config, num_procs())
    # Each rank and env draws its own stream of the seed's SeedSequence (utils/seeding.py).
    torch_seed, numpy_seed = rank_seeds(args.seed, proc_id())
    torch.manual_seed(torch_seed)
    np.random.seed(numpy_seed)
    local_envs = args.num_envs // num_procs()

    with ExitStack() as on_exit:  # the envs and the logger are closed on every way out
        envs = on_exit.enter_context(EnvBatch(env_fn, local_envs, args.privileged_critic))
        eval_env = on_exit.enter_context(make_env(env_fn))
        # After the envs: one that fails leaves no run directory; the run's name is the env's.
        config.update(env_record(envs), mpi_ranks=num_procs())
        resume_rows = None if checkpoint is None else checkpoint["epoch"] + 1
        # collective: rank 0 makes the run directory and tells the others
        logger = on_exit.enter_context(EpochLogger.for_run(config, args, resume_rows))
        on_exit.push(explain_a_stop(logger.output_dir))

        actor_critic = args.actor_critic or core.default_actor_critic(envs.observation_space)
        ac = actor_critic(envs.observation_space, envs.action_space, log_std_init=args.log_std_init,
                          normalize_obs=args.normalize_obs, **args.ac_kwargs)  # fmt: skip
        core.check_actor_critic(ac)
        if args.ortho_init:
            core.orthogonal_init(ac)
        sync_params(ac)  # collective: identical starting parameters on every rank
        var_counts = tuple(core.count_vars(module) for module in [ac.pi, ac.v])
        logger.log(f"\nNumber of parameters: \t pi: {var_counts[0]}, \t v: {var_counts[1]}\n")
        size = args.steps_per_epoch // args.num_envs  # each env's steps per epoch
        buf = core.PPOBuffer(envs.observation_space, envs.action_space, size, local_envs,
                             args.gamma, args.lam, args.lambda_returns)  # fmt: skip
        rew_scaler = core.RewardScaler(local_envs, args.gamma) if args.normalize_rew else None
        rew_rms = None if rew_scaler is None else rew_scaler.ret_rms
        optimizers = [Adam(net.parameters(), lr=lr, eps=args.adam_eps, fused=True)  # one kernel
                      for net, lr in [(ac.pi, args.pi_lr), (ac.v, args.vf_lr)]]  # fmt: skip
        get_action = policy_function(ac, envs.action_space, deterministic=True)
        # The actor guesses the privileged state only where the env gives one.
        state_loss_coef = args.state_loss_coef if envs.critic_state else 0.0

        progress = Progress(kl_beta=args.kl_beta)
        if checkpoint is None:
            envs.reset(env_seeds(args.seed, first=proc_id() * local_envs, count=local_envs))
            if args.warmup_normalizers and (ac.obs_rms is not None or rew_rms is not None):
                # collective
                warm_up_normalizers(ac, envs, buf, logger, args.max_ep_len, rew_scaler, progress)
        else:
            progress = restore_run(
                checkpoint, ac, optimizers, rew_scaler, envs, logger
            )  # collective
            logger.log(f"Resuming {args.resume} after epoch {progress.epoch}.")
            if schedule is not None:
                logger.announce(schedule)
        start_time = time.time() - progress.elapsed_time
        logger.start_progress_bar(args.epochs, initial=progress.epoch + 1)
        ctrl_c = on_exit.enter_context(CtrlC())  # Ctrl-C on any rank: all stop after the epoch
        eval_seed = evaluation_seed(args.seed)

        for epoch in range(progress.epoch + 1, args.epochs):
            epoch_start = time.time()
            if args.anneal_lr:  # linearly, from the full rate at epoch 0 to 0 after the last
                for optimizer, lr in zip(optimizers, (args.pi_lr, args.vf_lr), strict=True):
                    optimizer.param_groups[0]["lr"] = lr * (1 - epoch / args.epochs)
            collect_epoch(ac, envs, buf, logger, buf.max_size, args.max_ep_len, epoch, rew_scaler)
            data = normalize_advantages(buf.get())  # collective
            sync_normalizers(ac.obs_rms, rew_rms)  # collective
            try:
                stats = update(ac, optimizers, data, progress.kl_beta, args, state_loss_coef)
            except FloatingPointError as e:
                raise FloatingPointError(
                    f"epoch {epoch}: {e}; training stopped before the model took a NaN, and the "
                    f"last checkpoint in {logger.output_dir} is the last good one. Lower pi_lr or "
                    "vf_lr, or check the scale of the environment's rewards."
                ) from None
            if stats["StopIter"] < args.train_pi_iters * args.minibatches:
                logger.log(f"Early stopping at step {stats['StopIter']} due to reaching max kl.")
            logger.store(**stats)
            if args.loss == "penalty":
                kl = mpi_avg(stats["KL"])  # collective
                progress.kl_beta = adapt_kl_penalty(progress.kl_beta, kl, args.target_kl)
            progress.epoch = epoch
            # collective: the epoch's env steps, and whether any rank saw Ctrl-C or is_success
            steps, stop, success = mpi_sum([buf.max_size * local_envs, ctrl_c.pressed,
                                            envs.reports_success])  # fmt: skip
            progress.total_env_interacts += int(steps)
            if progress.reports_success is None:  # the columns are fixed by epoch 0's row
                progress.reports_success = envs.reports_success = bool(success)

            if args.eval_freq > 0:
                due = (epoch + 1) % args.eval_freq == 0 or epoch == args.epochs - 1
                episodes = args.eval_episodes if due else 0
                share = evaluate(eval_env, get_action, episodes, args.max_ep_len, eval_seed)
                logger.store(**share)
            progress.elapsed_time = time.time() - start_time
            steps_per_sec = args.steps_per_epoch / (time.time() - epoch_start)
            # collective: the statistics of every column over the ranks
            log_epoch(logger, progress, args, state_loss_coef > 0, steps_per_sec)
            if (epoch + 1) % args.save_freq == 0 or epoch == args.epochs - 1 or stop:
                # collective: every rank's generators and episodes, gathered to rank 0
                save_run(
                    logger.output_dir, progress, ac, args.ac_kwargs, optimizers, rew_scaler, envs
                )
            if stop:
                raise Interrupted  # on every rank at once: none waits in a collective

        final = evaluate(eval_env, get_action, args.eval_episodes, args.max_ep_len, eval_seed)
        ret, success = (mpi_statistics_scalar(final[key])[0]  # collective
                        for key in ("EvalEpRet", "EvalSuccessRate"))  # fmt: skip
        rate = f"success rate {success:.2f}, " if progress.reports_success else ""
        logger.announce(f"The final deterministic policy on {args.eval_episodes} episodes of "
                        f"unseen seeds: {rate}average return {ret:.4g}.")  # fmt: skip
        logger.announce(
            f"Run directory: {logger.output_dir.resolve()} (done). Run the policy: "
            + shell_command("-m", "utils.test_policy", logger.output_dir.resolve())
        )
    return ac


def main(argv: list[str] | None = None):
    """The command line (python ppo.py --help); returns the trained actor-critic."""
    return run_command_line(ppo, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
