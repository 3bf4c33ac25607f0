"""Proximal Policy Optimization (Schulman et al., 2017), Spinning Up style, on Gymnasium and MPI.

Read it top to bottom: the two losses, the two update steps, then ppo(): build the envs and the
networks, collect an epoch of experience on every MPI rank, update, log, checkpoint. Run it:

    python ppo.py --env ArmReach-v0 --cpu 2          # launches 2 MPI ranks itself
    mpirun -np 4 python ppo.py --env ArmReach-v0     # or under your own mpirun

or from a notebook started in this folder: `import ppo; ac = ppo.ppo(lambda: gym.make(...))`.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Box, Discrete
from torch.optim import Adam

import core
import envs  # noqa: F401  (registers ArmReach-v0 with Gymnasium)
from utils.cli import add_arguments_from_signature
from utils.logx import (
    EpochLogger,
    check_writable,
    load_checkpoint,
    load_config,
    restore_rng_state,
    rng_state,
    setup_logger_kwargs,
)
from utils.mpi import (
    allgather,
    flat_grad_buffer,
    gather,
    launched_by_mpirun,
    mpi_avg,
    mpi_avg_grads,
    mpi_fork,
    mpi_sum,
    num_procs,
    proc_id,
    scatter,
    setup_pytorch_for_mpi,
    sync_params,
)
from utils.test_policy import policy_function, run_policy

LOSSES = ("clip", "penalty")
EVAL_SEED = 1_000_000  # evaluation episodes reset with EVAL_SEED + i: seeds training never uses


def compute_loss_pi(ac, data, clip_ratio: float, loss: str = "clip", beta: float = 1.0):
    """The policy loss, and the diagnostics logged beside it (approx KL, entropy, clip fraction).

    clip:    -E[min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv)]
    penalty: -E[ratio * adv] + beta * KL(pi_old || pi), the PPO paper's adaptive-KL objective.
    """
    obs, act, adv, logp_old = data["obs"], data["act"], data["adv"], data["logp"]
    pi, logp = ac.pi(obs, act)
    ratio = torch.exp(logp - logp_old)
    # Sample estimate of KL(pi_old || pi) on the data pi_old collected.
    approx_kl = (logp_old - logp).mean()
    if loss == "clip":
        clip_adv = torch.clamp(ratio, 1 - clip_ratio, 1 + clip_ratio) * adv
        loss_pi = -(torch.min(ratio * adv, clip_adv)).mean()
    else:
        loss_pi = -(ratio * adv).mean() + beta * approx_kl

    clipped = ratio.gt(1 + clip_ratio) | ratio.lt(1 - clip_ratio)
    pi_info = dict(
        kl=approx_kl.item(),
        ent=pi.entropy().mean().item(),
        cf=clipped.float().mean().item(),
    )
    return loss_pi, pi_info


def compute_loss_v(ac, data):
    """Mean squared error of V(obs) against the rewards-to-go."""
    return ((ac.v(data["obs"]) - data["ret"]) ** 2).mean()


def check_finite(name: str, value) -> None:
    """Stop at the first NaN or inf, before it reaches the weights or a checkpoint."""
    finite = np.isfinite(value).all() if isinstance(value, np.ndarray) else value.isfinite().all()
    if not finite:
        raise FloatingPointError(f"NaN or inf in {name}")


def check_finite_grads(name: str, module: torch.nn.Module) -> None:
    if not torch.isfinite(flat_grad_buffer(module)).all():
        raise FloatingPointError(f"NaN or inf in the gradient of {name}")


def update_pi(ac, pi_optimizer, data, clip_ratio, train_pi_iters, target_kl, loss="clip", beta=1.0):
    """Gradient steps on the policy; returns (steps taken, the last step's pi_info).

    With the clipped loss, stop as soon as the KL averaged over ranks exceeds 1.5 * target_kl:
    the clip alone does not bound how far many steps on the same batch can move the policy, and
    1.5 gives the usual slack around the target (Spinning Up). Every rank sees the same average,
    so all ranks stop at the same step and the gradient Allreduce stays matched.
    """
    for i in range(train_pi_iters):
        pi_optimizer.zero_grad(set_to_none=False)  # keep .grad as views of mpi_avg_grads' buffer
        loss_pi, pi_info = compute_loss_pi(ac, data, clip_ratio, loss, beta)
        kl = mpi_avg(pi_info["kl"])
        if loss == "clip" and kl > 1.5 * target_kl:
            return i, pi_info
        check_finite("LossPi", loss_pi.detach())
        loss_pi.backward()
        mpi_avg_grads(ac.pi)
        check_finite_grads("LossPi", ac.pi)
        pi_optimizer.step()
    return train_pi_iters, pi_info


def update_v(ac, vf_optimizer, data, train_v_iters):
    for _ in range(train_v_iters):
        vf_optimizer.zero_grad(set_to_none=False)
        loss_v = compute_loss_v(ac, data)
        check_finite("LossV", loss_v.detach())
        loss_v.backward()
        mpi_avg_grads(ac.v)
        check_finite_grads("LossV", ac.v)
        vf_optimizer.step()


def adapt_kl_penalty(beta: float, kl: float, target_kl: float) -> float:
    """The PPO paper's rule: halve beta when the KL came out well under target, double it over."""
    if kl < target_kl / 1.5:
        return beta / 2
    if kl > target_kl * 1.5:
        return beta * 2
    return beta


def check_arguments(ranks: int | None = None, **kwargs) -> None:
    """Reject arguments that cannot work, with the value, the rule and what to do."""
    ranks = num_procs() if ranks is None else ranks
    for name in (
        "steps_per_epoch",
        "epochs",
        "train_pi_iters",
        "train_v_iters",
        "max_ep_len",
        "save_freq",
    ):
        if kwargs[name] <= 0:
            raise ValueError(f"{name}={kwargs[name]} must be a positive integer.")
    if kwargs["eval_freq"] < 0 or kwargs["eval_episodes"] <= 0:
        raise ValueError(
            f"eval_freq={kwargs['eval_freq']} must be >= 0 (0: no evaluation) and "
            f"eval_episodes={kwargs['eval_episodes']} positive."
        )
    for name in ("pi_lr", "vf_lr", "clip_ratio", "target_kl"):
        if not kwargs[name] > 0:
            raise ValueError(f"{name}={kwargs[name]} must be greater than 0.")
    for name in ("gamma", "lam"):
        if not 0 < kwargs[name] <= 1:
            raise ValueError(f"{name}={kwargs[name]} must be in (0, 1].")
    if kwargs["loss"] not in LOSSES:
        raise ValueError(f"loss={kwargs['loss']!r} is not one of {LOSSES}.")
    if kwargs["envs_per_proc"] <= 0:
        raise ValueError(f"envs_per_proc={kwargs['envs_per_proc']} must be a positive integer.")
    n_envs = ranks * kwargs["envs_per_proc"]
    if kwargs["steps_per_epoch"] % n_envs != 0:
        raise ValueError(
            f"steps_per_epoch={kwargs['steps_per_epoch']} must be a multiple of MPI ranks "
            f"({ranks}) x envs_per_proc ({kwargs['envs_per_proc']}) = {n_envs}, so that "
            "every environment collects the same number of steps; change one of them."
        )


def saved_ac_kwargs(ac_kwargs: dict) -> dict:
    """What a checkpoint records to rebuild MLPActorCritic (core.actor_critic_from_checkpoint)."""
    return dict(
        hidden_sizes=list(ac_kwargs.get("hidden_sizes", (64, 64))),
        activation=ac_kwargs.get("activation", torch.nn.Tanh).__name__,
    )


# Arguments that shape what a checkpoint holds: a resumed run must use the saved values.
RESUME_MUST_MATCH = ("steps_per_epoch", "envs_per_proc", "normalize_obs", "loss")


def check_resume(config: dict, saved_config: dict, checkpoint: dict, ranks: int | None = None):
    ranks = num_procs() if ranks is None else ranks
    saved_ranks = len(checkpoint["rng"])
    if saved_ranks != ranks:
        raise ValueError(
            f"the run in {config['resume']} was trained with {saved_ranks} MPI ranks and this job "
            f"has {ranks}; resume it with {saved_ranks} (--cpu {saved_ranks})."
        )
    hidden_sizes = saved_ac_kwargs(config["ac_kwargs"])["hidden_sizes"]
    for name, now, then in [
        *((n, config[n], saved_config.get(n)) for n in RESUME_MUST_MATCH),
        ("hidden_sizes", hidden_sizes, checkpoint["ac_kwargs"]["hidden_sizes"]),
    ]:
        if now != then:
            raise ValueError(
                f"{name}={now!r} differs from {then!r} of the run in {config['resume']}; "
                "resume with the run's own arguments (its config.json), as "
                "`python ppo.py --resume RUN_DIR` does."
            )


def ppo(
    env_fn,
    actor_critic=core.MLPActorCritic,
    ac_kwargs=dict(),  # noqa: B006  (Spinning Up's signature; never mutated)
    seed=0,
    steps_per_epoch=4000,
    epochs=50,
    gamma=0.99,
    clip_ratio=0.2,
    pi_lr=3e-4,
    vf_lr=1e-3,
    train_pi_iters=80,
    train_v_iters=80,
    lam=0.97,
    max_ep_len=1000,
    target_kl=0.01,
    logger_kwargs=dict(),  # noqa: B006
    save_freq=10,
    *,
    loss="clip",
    kl_beta=1.0,
    envs_per_proc=20,
    normalize_obs=True,
    ortho_init=True,
    eval_freq=0,
    eval_episodes=50,
    resume=None,
    quiet=False,
    tensorboard=False,
):
    """Proximal Policy Optimization (by clipping or by an adaptive KL penalty), with early stopping
    based on approximate KL. Runs in one process, or on every rank of an MPI job.

    Args:
        env_fn : A function which creates a copy of the environment. The environment must
            satisfy the Gymnasium API, with a Box observation space and a Box or Discrete
            action space.

        actor_critic: The constructor method for a PyTorch Module with a ``step`` method, an
            ``act`` method, a ``pi`` module, and a ``v`` module. The ``step`` method should
            accept a batch of observations and return:

            ===========  ================  ======================================
            Symbol       Shape             Description
            ===========  ================  ======================================
            ``a``        (batch, act_dim)  | Numpy array of actions for each
                                           | observation.
            ``v``        (batch,)          | Numpy array of value estimates
                                           | for the provided observations.
            ``logp_a``   (batch,)          | Numpy array of log probs for the
                                           | actions in ``a``.
            ===========  ================  ======================================

            The ``act`` method behaves the same as ``step`` but only returns ``a``.

            The ``pi`` module's forward call should accept a batch of observations and
            optionally a batch of actions, and return:

            ===========  ================  ======================================
            Symbol       Shape             Description
            ===========  ================  ======================================
            ``pi``       N/A               | Torch Distribution object, containing
                                           | a batch of distributions describing
                                           | the policy for the provided observations.
            ``logp_a``   (batch,)          | Optional (only returned if batch of
                                           | actions is given). Tensor containing
                                           | the log probability, according to
                                           | the policy, of the provided actions.
            ===========  ================  ======================================

            The ``v`` module's forward call should accept a batch of observations and return
            a tensor of shape (batch,) with the value estimates.

        ac_kwargs (dict): Any kwargs appropriate for the ActorCritic object you provided to
            PPO, e.g. ``dict(hidden_sizes=(64, 64))``.

        seed (int): Seed for random number generators. Rank r uses seed + 10000 * r, and its
            k-th environment is reset with seed + 10000 * r + k.

        steps_per_epoch (int): Number of steps of interaction (state-action pairs) for the agent
            and the environment in each epoch, summed over all ranks and environments; it must
            be a multiple of ranks x envs_per_proc.

        epochs (int): Number of epochs of interaction (equivalent to number of policy updates)
            to perform.

        gamma (float): Discount factor, in (0, 1]. (Always between 0 and 1.)

        clip_ratio (float): Hyperparameter for clipping in the policy objective. Roughly: how
            far can the new policy go from the old policy while still profiting (improving the
            objective function)? The new policy can still go farther than the clip_ratio says,
            but it doesn't help on the objective anymore. (Usually small, 0.1 to 0.3.) Typically
            denoted by epsilon.

        pi_lr (float): Learning rate for the policy optimizer.

        vf_lr (float): Learning rate for the value function optimizer.

        train_pi_iters (int): Maximum number of gradient descent steps to take on the policy
            loss per epoch. (Early stopping may cause the optimizer to take fewer than this.)

        train_v_iters (int): Number of gradient descent steps to take on the value function
            per epoch.

        lam (float): Lambda for GAE-Lambda, in (0, 1]. (Always between 0 and 1, close to 1.)

        max_ep_len (int): Maximum length of an episode, on top of the environment's own time
            limit; reaching it counts as a truncation (bootstrapped from V).

        target_kl (float): Roughly what KL divergence we think is appropriate between new and
            old policies after an update. This will get used for early stopping with the clip
            loss (usually small, 0.01 or 0.05) and as the target of the adaptive penalty.

        logger_kwargs (dict): Keyword args for EpochLogger, e.g. ``dict(output_dir=...,
            exp_name=...)``; by default the run goes to data/ppo/ppo_s<seed>. An existing run
            directory is never overwritten: a new one with a suffix _1, _2, ... is used.

        save_freq (int): How often (in terms of gap between epochs) to save the checkpoint;
            the last epoch is always saved.

        loss (str): The policy objective: "clip" (the clipped surrogate with KL early stopping)
            or "penalty" (the surrogate minus an adaptive KL penalty, without early stopping).

        kl_beta (float): Initial coefficient of the KL penalty with loss="penalty"; after each
            update it is halved when the KL came out under target_kl / 1.5 and doubled over
            target_kl * 1.5.

        envs_per_proc (int): Number of environments each rank steps as a batch, with one
            policy call per step for all of them.

        normalize_obs (bool): Normalize observations by a running mean and variance, merged
            over ranks after each epoch and clipped to [-10, 10] (--no-normalize_obs to turn
            off).

        ortho_init (bool): Initialize the actor-critic's linear layers as CleanRL and
            Stable-Baselines3 do (orthogonal, gain sqrt(2), 0.01 for the policy's output, 1 for
            the value's) instead of PyTorch's default (--no-ortho_init).

        eval_freq (int): Every eval_freq epochs (and after the last), run eval_episodes
            episodes of the deterministic policy (the Gaussian mean) on fixed seeds that no
            training episode uses, split over the ranks; logs EvalEpRet, EvalSuccessRate and
            EvalTime (seconds spent evaluating, included in Time). 0 turns evaluation off.

        eval_episodes (int): Number of evaluation episodes, over all ranks.

        resume (str): The directory of a run to continue from its last checkpoint (written
            every save_freq epochs): networks, optimizers, normalizer, every rank's random
            generators and the epoch counter are restored, rows of progress.txt after the
            checkpoint are dropped and redone. Pass the run's own arguments (they are in its
            config.json: ``utils.logx.load_config(run_dir)``; ``python ppo.py --resume DIR``
            does this) and the same number of MPI ranks; epochs may be raised to train longer.

        quiet (bool): Print nothing per epoch (no table, no progress bar); files are written
            as usual.

        tensorboard (bool): Also write every progress column as a TensorBoard scalar to
            RUN_DIR/tb (needs the tensorboard package).

    Returns:
        The trained actor-critic (a torch.nn.Module). With normalize_obs, it expects
        normalized observations: its `obs_rms` attribute holds the normalizer.
    """
    check_arguments(**locals())
    setup_pytorch_for_mpi()
    config = dict(locals())

    checkpoint = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        check_resume(config, load_config(resume), checkpoint)
        logger_kwargs = dict(logger_kwargs, output_dir=resume)
    logger = EpochLogger(
        **logger_kwargs,
        resume_rows=None if checkpoint is None else checkpoint["epoch"] + 1,
        quiet=quiet,
        tensorboard=tensorboard,
    )

    # Every rank draws its own random numbers, so that the ranks explore differently.
    seed += 10000 * proc_id()
    torch.manual_seed(seed)
    np.random.seed(seed)

    env_list = [env_fn() for _ in range(envs_per_proc)]
    env = env_list[0]
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, Box) or len(obs_space.shape) != 1:
        raise ValueError(
            f"ppo() needs a flat Box observation space, got {obs_space}; "
            "flatten the observations (gymnasium.wrappers.FlattenObservation)."
        )
    if not isinstance(act_space, Box | Discrete):
        raise ValueError(f"ppo() needs a Box or Discrete action space, got {act_space}.")
    if checkpoint is None:
        config["env_id"] = env.spec.id if env.spec is not None else None
        config["mpi_ranks"] = num_procs()
        logger.save_config(config)

    ac = actor_critic(obs_space, act_space, **ac_kwargs)
    if ortho_init:
        core.orthogonal_init(ac)
    ac.obs_rms = core.RunningMeanStd(obs_space.shape) if normalize_obs else None
    sync_params(ac)  # identical starting parameters on every rank
    var_counts = tuple(core.count_vars(module) for module in [ac.pi, ac.v])
    logger.log(f"\nNumber of parameters: \t pi: {var_counts[0]}, \t v: {var_counts[1]}\n")

    local_steps_per_env = steps_per_epoch // (num_procs() * envs_per_proc)
    buf = core.PPOBuffer(
        obs_space.shape[0], act_space.shape, local_steps_per_env, envs_per_proc, gamma, lam
    )

    pi_optimizer = Adam(ac.pi.parameters(), lr=pi_lr)
    vf_optimizer = Adam(ac.v.parameters(), lr=vf_lr)

    def normalize(obs: np.ndarray) -> np.ndarray:
        return ac.obs_rms.normalize(obs) if ac.obs_rms is not None else obs.astype(np.float32)

    def save_checkpoint(epoch: int) -> None:
        # Everything a resumed run needs to go on as this one would: the networks, the
        # optimizers' moments, the normalizer (inside ac) and every rank's random generators.
        rng_states = gather(rng_state(env_list))
        logger.save_state(
            dict(
                epoch=epoch,
                ac=ac.state_dict(),
                ac_kwargs=saved_ac_kwargs(ac_kwargs),
                normalize_obs=normalize_obs,
                pi_optimizer=pi_optimizer.state_dict(),
                vf_optimizer=vf_optimizer.state_dict(),
                kl_beta=kl_beta,
                total_env_interacts=total_env_interacts,
                elapsed_time=time.time() - start_time,
                rng=rng_states,
            )
        )

    eval_env = env_fn() if eval_freq > 0 else None
    get_action = policy_function(ac, act_space, deterministic=True)  # the Gaussian's mean

    def evaluate() -> None:
        # Each rank runs its share of the episodes; the seeds are fixed, so evaluations at
        # different epochs see the same start states and targets.
        bounds = np.linspace(0, eval_episodes, num_procs() + 1).astype(int)
        first, last = int(bounds[proc_id()]), int(bounds[proc_id() + 1])
        eval_start, returns, successes = time.time(), [], 0.0
        if last > first:
            result = run_policy(eval_env, get_action, last - first, seed=EVAL_SEED + first)
            returns = result["returns"]
            successes = (result["success_rate"] or 0.0) * len(returns)
        logger.store(EvalEpRet=returns)
        logger.log_tabular("EvalEpRet", average_only=True)
        if reports_success:
            logger.log_tabular("EvalSuccessRate", mpi_sum(successes) / eval_episodes)
        logger.log_tabular("EvalTime", time.time() - eval_start)

    def update(data, beta):
        pi_l_old, pi_info_old = compute_loss_pi(ac, data, clip_ratio, loss, beta)
        pi_l_old = pi_l_old.item()
        v_l_old = compute_loss_v(ac, data).item()

        stop_iter, pi_info = update_pi(
            ac, pi_optimizer, data, clip_ratio, train_pi_iters, target_kl, loss, beta
        )
        if stop_iter < train_pi_iters:
            logger.log(f"Early stopping at step {stop_iter} due to reaching max kl.")
        update_v(ac, vf_optimizer, data, train_v_iters)

        with torch.no_grad():
            loss_pi, pi_info = compute_loss_pi(ac, data, clip_ratio, loss, beta)
            loss_v = compute_loss_v(ac, data)
        logger.store(
            LossPi=pi_l_old,
            LossV=v_l_old,
            KL=pi_info["kl"],
            Entropy=pi_info_old["ent"],
            ClipFrac=pi_info["cf"],
            DeltaLossPi=loss_pi.item() - pi_l_old,
            DeltaLossV=loss_v.item() - v_l_old,
            StopIter=stop_iter,
        )
        return mpi_avg(pi_info["kl"])

    start_epoch, total_env_interacts, start_time = 0, 0, time.time()
    if checkpoint is None:
        obs = np.stack([env_list[k].reset(seed=seed + k)[0] for k in range(envs_per_proc)])
    else:
        ac.load_state_dict(checkpoint["ac"])
        pi_optimizer.load_state_dict(checkpoint["pi_optimizer"])
        vf_optimizer.load_state_dict(checkpoint["vf_optimizer"])
        kl_beta = checkpoint["kl_beta"]
        start_epoch = checkpoint["epoch"] + 1
        total_env_interacts = checkpoint["total_env_interacts"]
        start_time -= checkpoint["elapsed_time"]
        restore_rng_state(scatter(checkpoint["rng"] if proc_id() == 0 else None), env_list)
        # The physics of episodes in flight was not saved: they start anew, from the restored
        # generators.
        obs = np.stack([env.reset()[0] for env in env_list])
        logger.log(f"Resuming {resume} after epoch {checkpoint['epoch']}.")
    ep_ret = np.zeros(envs_per_proc)
    ep_len = np.zeros(envs_per_proc, dtype=np.int64)
    reports_success = None  # known after the first step: does the env put is_success in info?
    act_low, act_high = (act_space.low, act_space.high) if isinstance(act_space, Box) else (0, 0)
    logger.start_progress_bar(epochs, initial=start_epoch)

    for epoch in range(start_epoch, epochs):
        epoch_start = time.time()
        for t in range(local_steps_per_env):
            if ac.obs_rms is not None:
                ac.obs_rms.record(obs)
            obs_n = normalize(obs)
            act, val, logp = ac.step(torch.as_tensor(obs_n))
            # The Gaussian's sample is stored as drawn (its logp is what the ratio needs);
            # the env gets it clipped into its bounds, as in Stable-Baselines3.
            env_act = np.clip(act, act_low, act_high) if isinstance(act_space, Box) else act

            next_obs = np.empty_like(obs)
            rew = np.zeros(envs_per_proc, dtype=np.float32)
            terminated = np.zeros(envs_per_proc, dtype=bool)
            truncated = np.zeros(envs_per_proc, dtype=bool)
            success = np.zeros(envs_per_proc)
            for k, env in enumerate(env_list):
                next_obs[k], rew[k], terminated[k], truncated[k], info = env.step(env_act[k])
                if reports_success is None:
                    reports_success = "is_success" in info
                success[k] = float(info.get("is_success", 0.0))
            check_finite(f"an observation of the environment (epoch {epoch})", next_obs)
            check_finite(f"a reward of the environment (epoch {epoch})", rew)

            buf.store(obs_n, act, rew, val, logp)
            logger.store(VVals=val)
            ep_ret += rew
            ep_len += 1

            timeout = truncated | (ep_len == max_ep_len)
            epoch_ended = t == local_steps_per_env - 1
            path_over = terminated | timeout | epoch_ended
            # A true terminal state is worth 0 after it. A cut-off (time limit or end of the
            # epoch) is not a terminal state: the return would go on, so bootstrap from V(s_T).
            last_val = np.zeros(envs_per_proc, dtype=np.float32)
            cut = path_over & ~terminated
            if cut.any():
                with torch.no_grad():
                    last_val[cut] = ac.v(torch.as_tensor(normalize(next_obs[cut]))).numpy()
            for k in np.flatnonzero(path_over):
                buf.finish_path(k, last_val[k])
                if terminated[k] or timeout[k]:
                    logger.store(EpRet=ep_ret[k], EpLen=ep_len[k])
                    if reports_success:
                        logger.store(SuccessRate=success[k])
                    next_obs[k] = env_list[k].reset()[0]
                    ep_ret[k], ep_len[k] = 0, 0
            # Episodes cut by the end of the epoch go on in the next one.
            obs = next_obs

        data = buf.get()
        if ac.obs_rms is not None:
            ac.obs_rms.sync()
        try:
            check_finite("the rewards-to-go", data["ret"])
            check_finite("the advantages", data["adv"])
            kl = update(data, kl_beta)
        except FloatingPointError as e:
            raise FloatingPointError(
                f"epoch {epoch}: {e}; training stopped before the model took a NaN, and the "
                f"last checkpoint in {logger.output_dir} is the last good one. Lower pi_lr or "
                "vf_lr, or check the scale of the environment's rewards."
            ) from None
        if loss == "penalty":
            kl_beta = adapt_kl_penalty(kl_beta, kl, target_kl)

        total_env_interacts += int(mpi_sum(local_steps_per_env * envs_per_proc))
        logger.log_tabular("Epoch", epoch)
        logger.log_tabular("EpRet", with_min_and_max=True)
        logger.log_tabular("EpLen", average_only=True)
        if reports_success:
            logger.log_tabular("SuccessRate", average_only=True)
        logger.log_tabular("VVals", with_min_and_max=True)
        logger.log_tabular("TotalEnvInteracts", total_env_interacts)
        logger.log_tabular("LossPi", average_only=True)
        logger.log_tabular("LossV", average_only=True)
        logger.log_tabular("DeltaLossPi", average_only=True)
        logger.log_tabular("DeltaLossV", average_only=True)
        logger.log_tabular("Entropy", average_only=True)
        logger.log_tabular("KL", average_only=True)
        logger.log_tabular("ClipFrac", average_only=True)
        logger.log_tabular("StopIter", average_only=True)
        if loss == "penalty":
            logger.log_tabular("KLBeta", kl_beta)
        if eval_freq > 0:
            if (epoch + 1) % eval_freq == 0 or epoch == epochs - 1:
                evaluate()
            else:
                logger.log_tabular("EvalEpRet", np.nan)
                if reports_success:
                    logger.log_tabular("EvalSuccessRate", np.nan)
                logger.log_tabular("EvalTime", 0.0)
        logger.log_tabular("StepsPerSec", steps_per_epoch / (time.time() - epoch_start))
        logger.log_tabular("Time", time.time() - start_time)
        logger.dump_tabular()

        if (epoch + 1) % save_freq == 0 or epoch == epochs - 1:
            save_checkpoint(epoch)

    logger.close()
    for env in [*env_list, eval_env]:
        if env is not None:
            env.close()
    return ac


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(
        description="Train a policy with PPO on a Gymnasium environment (see ppo.ppo for details).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--env", type=str, default="ArmReach-v0", help="Gymnasium env id.")
    parser.add_argument("--hid", type=int, default=64, help="Units per hidden layer.")
    parser.add_argument("--l", type=int, default=2, help="Number of hidden layers.")
    parser.add_argument(
        "--cpu", type=int, default=None, help="MPI ranks to launch with mpirun (default: 1)."
    )
    parser.add_argument("--exp_name", "--exp-name", type=str, default="ppo")
    parser.add_argument("--data_dir", "--data-dir", type=str, default="data")
    ppo_flags = add_arguments_from_signature(
        parser,
        ppo,
        skip=("env_fn", "actor_critic", "ac_kwargs", "logger_kwargs"),
        aliases=dict(steps_per_epoch=["--steps"]),
    )
    # One line, not argparse's usage block: the message already names the flag.
    parser.error = lambda message: parser.exit(
        2, f"ppo.py: error: {message} (python ppo.py --help lists the flags)\n"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    given = {
        action.dest
        for action in parser._actions
        if any(arg.split("=")[0] in action.option_strings for arg in argv)
    }

    def fail(message: str) -> None:
        if proc_id() == 0:
            sys.stderr.write(f"ppo.py: error: {message}\n")
        sys.exit(2)

    if args.resume is not None:
        # Continue with the run's own settings, except those given again (--epochs 100
        # trains longer).
        try:
            saved = load_config(args.resume)
        except ValueError as e:
            fail(str(e))
        for name in ppo_flags:
            if name in saved and name not in given and name != "resume":
                setattr(args, name, saved[name])
        args.env, args.exp_name = saved["env_id"], saved.get("exp_name", args.exp_name)
        hidden_sizes = saved["ac_kwargs"].get("hidden_sizes", [args.hid] * args.l)
        args.cpu = saved["mpi_ranks"] if args.cpu is None else args.cpu
    else:
        hidden_sizes = [args.hid] * args.l
    args.cpu = 1 if args.cpu is None else args.cpu

    ac_kwargs = dict(hidden_sizes=hidden_sizes)
    ppo_kwargs = {name: getattr(args, name) for name in ppo_flags}
    # Check what can be checked before starting MPI ranks: one clear line instead of one
    # error per rank. Under mpirun every rank checks, and all exit if any rank found an error.
    ranks = num_procs() if launched_by_mpirun() else args.cpu
    error = None
    try:
        gym.spec(args.env)
        check_arguments(ranks=ranks, **ppo_kwargs)
        if args.resume is not None:
            config = dict(ppo_kwargs, ac_kwargs=ac_kwargs)
            check_resume(config, saved, load_checkpoint(args.resume), ranks=ranks)
        else:
            check_writable(args.data_dir)
    except gym.error.Error:
        close = difflib.get_close_matches(args.env, list(gym.registry), n=3, cutoff=0.5)
        error = (
            f"--env {args.env} is not a registered Gymnasium environment"
            + (f"; close matches: {', '.join(close)}" if close else "")
            + ". ArmReach-v0 and ArmReachSparse-v0 are registered by `import envs`."
        )
    except ValueError as e:
        error = str(e)
    errors = [e for e in allgather(error) if e is not None]
    if errors:
        fail(errors[0])

    if launched_by_mpirun():
        if args.cpu > 1 and args.cpu != num_procs():
            fail(
                f"--cpu {args.cpu} but this job already runs under mpirun with {num_procs()} "
                "ranks; drop --cpu or make the two agree."
            )
    else:
        mpi_fork(args.cpu)  # relaunches this script under mpirun and exits when it ends

    try:
        return ppo(
            lambda: gym.make(args.env),
            ac_kwargs=ac_kwargs,
            logger_kwargs=setup_logger_kwargs(args.exp_name, args.seed, args.data_dir),
            **ppo_kwargs,
        )
    except (ValueError, FloatingPointError) as e:
        if num_procs() > 1:
            raise  # on one rank only, maybe: the excepthook aborts the whole job
        fail(str(e))


if __name__ == "__main__":
    main()
