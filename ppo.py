"""Proximal Policy Optimization (Schulman et al., 2017), Spinning Up style, on Gymnasium and MPI.

Read it top to bottom, in the order an epoch runs: the batch of environments a rank steps and
the collection of an epoch's experience; the normalizers and the advantages; the update (the
losses, the gradient steps); evaluation, the log and the checkpoint; then ppo(), the loop that
calls them. Every call in ppo() that makes a collective MPI call (here, or inside the logger and
the argument checks of utils/) is marked `# collective`: every rank must reach it. Run it:

    python ppo.py --env ArmReach-v0 --cpu 2          # launches 2 MPI ranks itself
    mpirun -np 4 python ppo.py --env ArmReach-v0     # or under your own mpirun

or from a notebook started in this folder: `import ppo; ac = ppo.ppo(lambda: gym.make(...))`.
"""

from __future__ import annotations

import errno
import math
import sys

if __name__ == "__main__":
    # `python ppo.py ...` starts here: check the flags and, for --cpu N, launch N MPI ranks of
    # this script, before importing torch, which only the ranks need (bench/startup.py).
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
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Box, Dict, Discrete
from torch.optim import Adam

import core
from utils.checkpoint import (
    CHECKPOINT_FILE,
    Progress,
    check_resume,
    load_checkpoint,
    rank_state,
    restore_checkpoint,
    restore_rank_state,
    resume_record,
    save_checkpoint,
    schedule_note,
)
from utils.cli import check_arguments, check_or_exit, fail, parse_args
from utils.env_check import make_env
from utils.logx import EpochLogger, load_config, setup_logger_kwargs, shell_command, with_run_dir
from utils.mpi import (
    CtrlC,
    Interrupted,
    allgather,
    flat_grad_buffer,
    gather,
    mpi_avg,
    mpi_avg_inplace,
    mpi_statistics_scalar,
    mpi_sum,
    num_procs,
    proc_id,
    scatter,
    sync_params,
)
from utils.seeding import env_seeds, evaluation_seed, rank_seeds
from utils.test_policy import policy_function, run_policy

# ppo()'s arguments that update() takes, as they are.
UPDATE_ARGUMENTS = ("clip_ratio", "loss", "train_pi_iters", "train_v_iters", "minibatches",
                    "target_kl", "max_grad_norm", "state_loss_coef")  # fmt: skip


def setup_pytorch_for_mpi() -> None:
    """One torch thread per rank, so that ranks never fight over the cores.

    Not the fair share of cores (Spinning Up): for networks this small, a second thread's
    synchronization costs more than it saves, and on a busy machine the thread pool's waiting
    slows an update 10x or more (bench/rollout_speed.py --threads 2 shows it).
    """
    torch.set_num_threads(1)


class EnvBatch:
    """The K environments one rank steps together, and the episodes running in them.

    With `privileged_critic`, an env with a Dict observation space that puts its full state in
    `info["state"]` (ArmReach-v1's pixels) has it added to every observation under
    core.CRITIC_KEY, for the critic alone: `observation_space` then includes it."""

    def __init__(self, env_fn, k: int, privileged_critic: bool = False):
        self.envs: list[gym.Env] = []
        for _ in range(k):  # appended one by one: close() must reach those made before a failure
            self.envs.append(make_env(env_fn))
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.spec = self.envs[0].spec
        self.critic_state = False
        if privileged_critic and isinstance(self.observation_space, Dict):
            state = self.envs[0].reset()[1].get("state")
            if state is not None:
                self.critic_state = True
                critic = Box(-np.inf, np.inf, np.shape(state), np.float32)
                self.observation_space = Dict(
                    {**self.observation_space.spaces, core.CRITIC_KEY: critic}
                )
        self.obs: np.ndarray | dict | None = None  # the envs' current observations, after reset()
        self.ep_ret = np.zeros(k)
        self.ep_len = np.zeros(k, dtype=np.int64)
        # Each env's generator as it was before its episode's reset, and the actions since: a
        # resume draws the episode again and replays them (utils/checkpoint.py).
        self.reset_rng: list[dict] = [{}] * k
        self.actions: list[list] = [[] for _ in range(k)]
        self.reports_success = False  # has any step's info held is_success?

    def reset(self, seeds: list[int]) -> None:
        """Start an episode in every env, env k from reset(seed=seeds[k])."""
        first = []
        for k, (env, seed) in enumerate(zip(self.envs, seeds, strict=True)):
            # what reset(seed=seed) seeds the env's generator with (Gymnasium's np_random)
            self.reset_rng[k] = np.random.PCG64(seed).state
            first.append(self.observe(*env.reset(seed=seed)))
        check_observation(first[0], self.observation_space)
        self.obs = core.stack_obs(first)
        self.ep_ret[:], self.ep_len[:] = 0, 0
        self.actions = [[] for _ in self.envs]

    def observe(self, obs, info: dict):
        """The observation the agent gets: the env's, with the critic's state if it takes one."""
        if self.critic_state:
            return dict(obs, **{core.CRITIC_KEY: np.asarray(info["state"], np.float32)})
        return obs

    def step(self, act: np.ndarray):
        """Step env k with act[k], for every k; returns (obs, rew, terminated, truncated, success)
        as arrays over the envs. `obs` is the observation after the step, also kept in self.obs."""
        k_envs = len(self.envs)
        rew = np.zeros(k_envs, dtype=np.float32)
        terminated = np.zeros(k_envs, dtype=bool)
        truncated = np.zeros(k_envs, dtype=bool)
        success = np.zeros(k_envs)
        observations = []
        for k, env in enumerate(self.envs):
            obs, rew[k], terminated[k], truncated[k], info = env.step(act[k])
            self.actions[k].append(act[k])
            observations.append(self.observe(obs, info))
            self.reports_success = self.reports_success or "is_success" in info
            success[k] = float(info.get("is_success", 0.0))
        next_obs = self.obs = core.stack_obs(observations)
        self.ep_ret += rew
        self.ep_len += 1
        return next_obs, rew, terminated, truncated, success

    def end_episode(self, k: int) -> tuple[float, int]:
        """(return, length) of env k's episode; env k starts its next one."""
        ep_ret, ep_len = self.ep_ret[k], self.ep_len[k]
        self.reset_rng[k] = self.envs[k].unwrapped.np_random.bit_generator.state
        self.set_obs(k, self.observe(*self.envs[k].reset()))
        self.ep_ret[k], self.ep_len[k] = 0, 0
        self.actions[k] = []
        return ep_ret, ep_len

    def set_obs(self, k: int, obs) -> None:
        if isinstance(obs, dict):
            for key, value in obs.items():
                self.obs[key][k] = value
        else:
            self.obs[k] = obs

    def episodes(self) -> dict:
        """The episodes in flight, as a resume needs them: each env's generator before the
        episode's reset, the actions taken since, the return so far, the observations."""
        return dict(
            reset_rng=list(self.reset_rng),
            actions=[torch.as_tensor(np.array(actions)) for actions in self.actions],
            ep_ret=self.ep_ret.tolist(),
            obs=core.map_obs(torch.tensor, self.obs),
        )

    def restore_episodes(self, saved: dict) -> float:
        """Go on with saved episodes: each env draws its episode again from the saved generator
        and replays the saved actions, which brings back an env whose steps are a function of its
        seed and actions (Gymnasium's rule) bit for bit. Returns how far the replayed observations
        are from the saved ones (0.0: exactly there)."""
        replays = saved.get("actions", [torch.zeros(0)] * len(self.envs))  # older: restart
        observations = []
        for k, (env, actions) in enumerate(zip(self.envs, replays, strict=True)):
            self.reset_rng[k] = saved["reset_rng"][k]
            generator = np.random.Generator(np.random.PCG64())
            generator.bit_generator.state = self.reset_rng[k]
            env.unwrapped.np_random = generator
            obs = self.observe(*env.reset())
            self.actions[k] = [a.numpy() if a.ndim else a.item() for a in actions]
            for act in self.actions[k]:
                obs, _, _, _, info = env.step(act)
                obs = self.observe(obs, info)
            observations.append(obs)
        self.obs = core.stack_obs(observations)
        self.ep_len[:] = [len(actions) for actions in self.actions]
        self.ep_ret[:] = saved.get("ep_ret", 0.0)
        if "obs" not in saved:
            return 0.0
        saved_obs = core.map_obs(lambda t: t.numpy().astype(np.float64), saved["obs"])
        pairs = [(saved_obs, self.obs)]
        if isinstance(self.obs, dict):
            pairs = [(saved_obs[key], self.obs[key]) for key in self.obs]
        return max(float(np.abs(then - now).max(initial=0.0)) for then, now in pairs)

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def __enter__(self) -> EnvBatch:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def check_spaces(obs_space: gym.Space, act_space: gym.Space) -> None:
    if isinstance(obs_space, Dict):
        for key, entry in obs_space.spaces.items():
            check_dict_entry(key, entry)
    elif not isinstance(obs_space, Box) or len(obs_space.shape) != 1:
        raise ValueError(
            f"ppo() needs a flat Box observation space or a Dict of images and flat Boxes, got "
            f"{obs_space}; flatten the observations (gymnasium.wrappers.FlattenObservation)."
        )
    if not isinstance(act_space, Box | Discrete):
        raise ValueError(
            f"ppo() needs a Box or Discrete action space, got {act_space}; wrap the env so that "
            "its actions are one Discrete (an index over the combinations) or a Box (rounded or "
            "thresholded into the env's actions)."
        )


def check_dict_entry(key: str, entry: gym.Space) -> None:
    """A Dict observation's entry must be an image (uint8, height x width x channels) that the
    CNN can take, or a flat Box."""
    shape = getattr(entry, "shape", None)
    if core.is_image(entry):
        height, width, channels = shape
        if shape[0] <= 4 < shape[2]:
            raise ValueError(
                f"observation {key!r} is a uint8 image of shape {shape}, channel-first; ppo() "
                "takes images channel-last (height, width, channels), as Gymnasium's "
                "AddRenderObservation gives them: transpose it in the env or a wrapper."
            )
        if min(height, width) < core.CNN_MIN_SIZE:
            raise ValueError(
                f"observation {key!r} is a {height}x{width} image; the CNN needs at least "
                f"{core.CNN_MIN_SIZE}x{core.CNN_MIN_SIZE} pixels: render it larger."
            )
        return
    if not isinstance(entry, Box) or len(shape) != 1:
        raise ValueError(
            f"observation {key!r} is {entry}; ppo() takes Dict entries that are images (uint8 "
            "Box of shape (height, width, channels)) or flat Boxes: flatten it, or make an "
            "image uint8 and channel-last."
        )


def check_observation(obs, space: gym.Space) -> None:
    """The env's first observation against its observation space: a mismatch of shape or dtype
    would otherwise surface deep inside the networks."""
    if not isinstance(space, Dict):
        return
    for key, entry in space.spaces.items():
        value = np.asarray(obs.get(key)) if isinstance(obs, dict) else None
        if value is None or value.shape != entry.shape or value.dtype != entry.dtype:
            got = "nothing" if value is None else f"{value.dtype} of shape {value.shape}"
            raise ValueError(
                f"the env's observation {key!r} is {got}, but its observation_space says "
                f"{entry.dtype} of shape {entry.shape}: make the two agree."
            )


def check_actor_critic(ac) -> None:
    shared = {id(p) for p in ac.pi.parameters()} & {id(p) for p in ac.v.parameters()}
    if shared:
        raise ValueError(
            f"the actor_critic's pi and v share {len(shared)} parameter tensors; ppo() steps "
            "them from one backward pass of the summed losses, each with its own optimizer, "
            "which needs two separate networks: give pi and v their own layers."
        )


def env_record(envs: EnvBatch) -> dict:
    """What config.json records of the env: its registered id and keywords (None and {} for an
    env made without gym.make)."""
    spec = envs.spec
    if spec is None:
        return dict(env_id=None, env_kwargs={})
    return dict(env_id=spec.id, env_kwargs=spec.kwargs)


def make_buffer(envs: EnvBatch, steps_per_env: int, gamma, lam, lambda_returns) -> core.PPOBuffer:
    """The buffer of one epoch of this rank's envs."""
    space = envs.observation_space
    return core.PPOBuffer(
        obs_dim=space if isinstance(space, Dict) else space.shape[0],
        act_dim=(int(np.prod(envs.action_space.shape)),)
        if isinstance(envs.action_space, Box)
        else (),
        size=steps_per_env,
        num_envs=len(envs.envs),
        gamma=gamma,
        lam=lam,
        lambda_returns=lambda_returns,
    )


def make_optimizers(ac, pi_lr: float, vf_lr: float, adam_eps: float) -> tuple[Adam, Adam]:
    """One Adam for the policy, one for the value function."""
    # fused: one kernel per step for all the tensors (on the CPU, Adam otherwise loops over them
    # in Python; bench/throughput.py). It rounds differently, within float32 rounding.
    return (
        Adam(ac.pi.parameters(), lr=pi_lr, eps=adam_eps, fused=True),
        Adam(ac.v.parameters(), lr=vf_lr, eps=adam_eps, fused=True),
    )


def set_learning_rates(optimizers, learning_rates, fraction: float) -> None:
    """Each optimizer at `fraction` of its full learning rate."""
    for optimizer, lr in zip(optimizers, learning_rates, strict=True):
        optimizer.param_groups[0]["lr"] = lr * fraction


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


def check_finite(name: str, value) -> None:
    """Stop at the first NaN or inf, before it reaches the weights or a checkpoint."""
    if isinstance(value, dict):  # a Dict observation: its images are uint8, always finite
        finite = all(np.isfinite(v).all() for v in value.values() if v.dtype != np.uint8)
    elif isinstance(value, np.ndarray):
        finite = np.isfinite(value).all()
    else:  # a float64 sum is finite exactly when every element is: one op at every minibatch step
        finite = math.isfinite(value.sum(dtype=torch.float64).item())
    if not finite:
        raise FloatingPointError(f"NaN or inf in {name}")


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
    """Run the untrained policy for one epoch (a buffer's worth) and fold what it saw into the
    normalizers, without learning from it. They start empty: without this, the first update
    would learn from raw observations and unscaled rewards, on a scale that the next epoch's
    statistics leave behind. Collective. Its env steps over all ranks and its seconds are added
    to `progress`: they count in TotalEnvInteracts and Time (its finished episodes are logged
    in epoch 0's row)."""
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


def update(ac, optimizers, data, beta, *, clip_ratio, loss, **steps) -> dict:
    """One PPO update on the epoch's data: take_gradient_steps(), with the losses and the
    policy's statistics before and after, which it returns for the log. `steps`: the other
    arguments of take_gradient_steps (passes, minibatches, target_kl, max_grad_norm). Collective."""
    check_finite("the value targets", data["ret"])
    check_finite("the advantages", data["adv"])
    with torch.no_grad():
        pi_l_old = compute_loss_pi(ac, data, clip_ratio, loss, beta)[0].item()
        v_l_old = compute_loss_v(ac, data).item()
        state = (
            {"LossState": compute_loss_state(ac, data).item()} if steps["state_loss_coef"] else {}
        )
    entropy = pi_diagnostics(ac, data, clip_ratio)["ent"]
    stop_iter = take_gradient_steps(
        ac, optimizers, data, clip_ratio=clip_ratio, loss=loss, beta=beta, **steps
    )
    with torch.no_grad():
        loss_pi = compute_loss_pi(ac, data, clip_ratio, loss, beta)[0].item()
        loss_v = compute_loss_v(ac, data).item()
    pi_info = pi_diagnostics(ac, data, clip_ratio)
    return dict(
        LossPi=pi_l_old,
        LossV=v_l_old,
        KL=pi_info["kl"],
        Entropy=entropy,
        ClipFrac=pi_info["cf"],
        DeltaLossPi=loss_pi - pi_l_old,
        DeltaLossV=loss_v - v_l_old,
        StopIter=stop_iter,
        **state,
    )


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
    normalized): a supervised signal that teaches the actor's CNN where things are. The guess
    reads the features of the actor's last forward pass: call it right after compute_loss_pi
    on the same data."""
    return ((ac.predict_state() - data["obs"][core.CRITIC_KEY]) ** 2).mean()


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
    """Gradient steps on the policy and the value function: train_pi_iters (train_v_iters)
    passes over the data, each cut into `minibatches` minibatches. Returns the number of policy
    steps taken. Collective: one Allreduce per minibatch.

    The two networks share no parameter, so one backward pass of the summed losses gives each
    network its own loss's gradient, and ONE Allreduce averages both gradients and the policy's
    KL over ranks; each network's averaged gradient is then clipped to max_grad_norm and
    stepped by its own optimizer (so every rank takes the same step).

    With the clipped loss, the policy stops as soon as that KL exceeds 1.5 * target_kl, checked
    on every minibatch before its step is taken: the clip alone does not bound how far many
    steps on the same data can move the policy, and 1.5 gives the usual slack around the target
    (Spinning Up). All ranks see the same average and stop at the same step; the value function
    goes on through its passes.
    """
    pi_optimizer, vf_optimizer = optimizers
    pi_steps, pi_stopped = 0, False
    zero, passes = torch.zeros(()), max(train_pi_iters, train_v_iters)
    # Both networks' gradients, then one slot for the KL: the .grad tensors are views of it.
    flat, (pi_grad, v_grad) = flat_grad_buffer([ac.pi, ac.v], extra=1)
    for step, batch in enumerate(minibatches_of(data, passes, minibatches)):
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
                    clip_norm_(grad, max_grad_norm)
                optimizer.step()
        pi_steps += pi_on
        flat.zero_()  # every .grad at once: they are views of `flat`
    return pi_steps


def minibatches_of(data: dict, passes: int, minibatches: int):
    """`passes` passes over the rank's data, each cut into `minibatches` minibatches of shuffled
    transitions (each transition once per pass). One minibatch is the whole batch, in order:
    shuffling would change nothing but the rounding (Spinning Up's update stays bit for bit)."""
    n = core.batch_size(data["obs"])
    for _ in range(passes):
        if minibatches == 1:
            yield data
            continue
        perm = torch.randperm(n)  # one shuffle per pass; its minibatches are slices of it
        for indices in torch.tensor_split(perm, minibatches):
            yield {k: core.take(v, indices) for k, v in data.items()}


def clip_norm_(grad: torch.Tensor, max_norm: float) -> None:
    """Scale a network's flat gradient down to norm max_norm if it is longer (the rule of
    torch's clip_grad_norm_, in two ops on one tensor instead of a loop over the parameters)."""
    norm = torch.linalg.vector_norm(grad)
    grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))


def adapt_kl_penalty(beta: float, kl: float, target_kl: float) -> float:
    """The PPO paper's rule: halve beta when the KL came out well under target, double it over."""
    if kl < target_kl / 1.5:
        return beta / 2
    if kl > target_kl * 1.5:
        return beta * 2
    return beta


def evaluate(eval_env: gym.Env, get_action, episodes: int, max_ep_len: int, first_seed: int):
    """This rank's share of `episodes` episodes of the deterministic policy, episode i reset
    with first_seed + i (seeds training never uses), as training runs them (max_ep_len): their
    returns, lengths and successes (none where the env reports no is_success) and the time."""
    bounds = np.linspace(0, episodes, num_procs() + 1).astype(int)
    first, last = int(bounds[proc_id()]), int(bounds[proc_id() + 1])
    start, result = time.time(), dict(returns=[], lengths=[], successes=[])
    if last > first:
        seed = first_seed + first
        result = run_policy(eval_env, get_action, last - first, seed, max_ep_len=max_ep_len)
    return dict(
        EvalEpRet=result["returns"],
        EvalEpLen=result["lengths"],
        EvalSuccessRate=result["successes"],  # its average over the ranks is the rate
        EvalTime=time.time() - start,
    )


def log_epoch(
    logger, progress: Progress, reports_success, evaluated, loss, state_loss, steps_per_sec
) -> None:
    """One row of progress.txt: Spinning Up's columns, then ours (LossState with the actor's
    state loss, KLBeta with the penalty loss, Eval... with evaluation). Collective (statistics
    over ranks)."""
    logger.log_tabular("Epoch", progress.epoch)
    logger.log_tabular("EpRet", with_min_and_max=True)
    logger.log_tabular("EpLen", average_only=True)
    if reports_success:
        logger.log_tabular("SuccessRate", average_only=True)
    logger.log_tabular("VVals", with_min_and_max=True)
    logger.log_tabular("TotalEnvInteracts", progress.total_env_interacts)
    for key in ["LossPi", "LossV", "DeltaLossPi", "DeltaLossV", "Entropy", "KL", "ClipFrac"]:
        logger.log_tabular(key, average_only=True)
    logger.log_tabular("StopIter", average_only=True)
    if state_loss:
        logger.log_tabular("LossState", average_only=True)
    if loss == "penalty":
        logger.log_tabular("KLBeta", progress.kl_beta)
    if evaluated:
        logger.log_tabular("EvalEpRet", average_only=True)
        logger.log_tabular("EvalEpLen", average_only=True)
        if reports_success:
            logger.log_tabular("EvalSuccessRate", average_only=True)
        logger.log_tabular("EvalTime", average_only=True)
    logger.log_tabular("StepsPerSec", steps_per_sec)
    logger.log_tabular("Time", progress.elapsed_time)
    logger.dump_tabular()


def save(run_dir, progress: Progress, ac, ac_kwargs, optimizers, rew_scaler, envs) -> None:
    """Checkpoint the run (utils/checkpoint.py says what it holds). Collective: every rank's
    generators and episodes in flight are gathered to rank 0, which writes the file."""
    ranks = gather(rank_state(envs, rew_scaler))
    if proc_id() == 0:
        rew_rms = None if rew_scaler is None else rew_scaler.ret_rms
        save_checkpoint(run_dir, progress, ac, ac_kwargs, *optimizers, ranks, rew_rms)


def load_resume(run_dir, config: dict):
    """The last checkpoint of `run_dir`, checked against this call's arguments; the record
    config.json keeps of what the resume changed, from which epoch; what it does to an annealed
    learning rate (or None)."""
    checkpoint = load_checkpoint(run_dir)
    saved_config = load_config(run_dir)
    check_resume(config, saved_config, checkpoint, num_procs())
    from_epoch = checkpoint["epoch"] + 1
    note = schedule_note(config, saved_config, from_epoch)
    return checkpoint, resume_record(config, saved_config, from_epoch), note


def restore(checkpoint, ac, optimizers, rew_scaler, envs: EnvBatch, logger) -> Progress:
    """Continue from a checkpoint: weights, optimizers, reward scale, and each rank its own
    generators and episodes in flight, scattered from rank 0's copy. Collective. Returns where
    training stopped."""
    rew_rms = None if rew_scaler is None else rew_scaler.ret_rms
    progress = restore_checkpoint(checkpoint, ac, *optimizers, rew_rms)
    rank = scatter(checkpoint["ranks"] if proc_id() == 0 else None)
    drift = max(allgather(restore_rank_state(rank, envs, rew_scaler)))
    envs.reports_success = bool(progress.reports_success)
    if drift > 0:  # an env whose steps are not a function of its seed and actions
        logger.log(
            f"Note: replayed, the episodes in flight end up to {drift:.3g} from the saved "
            "observations: this resume goes on from a state the run did not have."
        )
    return progress


def explain_a_stop(run_dir: Path):
    """An exit callback for ppo()'s ExitStack: after Ctrl-C, or a disk that filled up, one line
    that says how to go on from the last checkpoint (which a failed write leaves whole)."""

    def on_exit(exc_type, exc, _) -> bool:
        resume = shell_command(Path(__file__).resolve(), "--resume", run_dir.resolve())
        saved = (run_dir / CHECKPOINT_FILE).exists()
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt) and proc_id() == 0:
            if saved:
                print(f"\nInterrupted; to go on from the last checkpoint: {resume}", flush=True)
            else:
                print(f"\nInterrupted before {run_dir}'s first checkpoint.", flush=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            then = f"then go on from the last checkpoint: {resume}" if saved else "then start again"
            raise ValueError(
                f"the disk that holds {run_dir} is full ({exc.strerror}); free some space, {then}"
            ) from None
        return False  # the exception goes on

    return on_exit


def ppo(
    env_fn,
    actor_critic=None,
    ac_kwargs=dict(),  # noqa: B006  (Spinning Up's signature; never mutated)
    seed=0,
    steps_per_epoch=2000,
    epochs=50,
    gamma=0.99,
    clip_ratio=0.2,
    pi_lr=3e-4,
    vf_lr=1e-3,
    train_pi_iters=10,
    train_v_iters=10,
    lam=0.95,
    max_ep_len=1000,
    target_kl=0.03,
    logger_kwargs=dict(),  # noqa: B006
    save_freq=10,
    *,
    loss="clip",
    kl_beta=1.0,
    minibatches=8,
    max_grad_norm=0.5,
    adam_eps=1e-8,
    anneal_lr=False,
    lambda_returns=True,
    log_std_init=-0.5,
    num_envs=40,
    normalize_obs=True,
    normalize_rew=True,
    warmup_normalizers=True,
    ortho_init=True,
    privileged_critic=True,
    state_loss_coef=1.0,
    eval_freq=0,
    eval_episodes=50,
    resume=None,
    quiet=False,
    tensorboard=False,
):
    """Proximal Policy Optimization (by clipping or by an adaptive KL penalty), with early stopping
    based on approximate KL. Runs in one process, or on every rank of an MPI job.

    Args:
        env_fn: A function that makes a copy of the environment (Gymnasium API, a flat Box
            observation space or a Dict of images and flat Boxes, a Box or Discrete action space).
        actor_critic: The constructor of the actor-critic, called as ``actor_critic(obs_space,
            act_space, normalize_obs=..., log_std_init=..., **ac_kwargs)`` (docs: API); None:
            core.MLPActorCritic for a Box observation space, core.CNNActorCritic for a Dict.
        ac_kwargs (dict): More keyword arguments of actor_critic, e.g. ``dict(hidden_sizes=(64,
            64))``.
        seed (int): Seed of every random stream: each rank's and env's is drawn from it.
        steps_per_epoch (int): Env steps per epoch over all ranks and envs, a multiple of
            num_envs (Spinning Up: 4000).
        epochs (int): Number of epochs, each one policy update.
        gamma (float): Discount factor, in (0, 1].
        clip_ratio (float): The clip range epsilon of the policy objective, usually 0.1 to 0.3.
        pi_lr (float): Learning rate of the policy's Adam.
        vf_lr (float): Learning rate of the value function's Adam.
        train_pi_iters (int): Passes over the epoch's data for the policy, each of `minibatches`
            steps; early stopping may cut them short (Spinning Up: 80 full-batch steps).
        train_v_iters (int): Passes over the epoch's data for the value function (Spinning Up:
            80 full-batch steps).
        lam (float): Lambda of GAE-lambda, in (0, 1] (Spinning Up: 0.97).
        max_ep_len (int): Longest episode in env steps, on top of the env's own time limit; a
            cut-off is bootstrapped from V.
        target_kl (float): The KL between old and new policy at which the clip loss stops early
            (at 1.5 x it), and the penalty loss's target (Spinning Up: 0.01).
        logger_kwargs (dict): Arguments of EpochLogger, e.g. ``dict(output_dir=..., exp_name=...)``;
            by default ``data/NAME/NAME_s<seed>``, NAME from the env (docs: CLI), never over a run.
        save_freq (int): Epochs between checkpoints; the last epoch is always saved.
        loss (str): The policy objective: "clip" (clipped surrogate, KL early stopping) or
            "penalty" (adaptive KL penalty).
        kl_beta (float): Initial coefficient of the KL penalty with loss="penalty".
        minibatches (int): Minibatches per pass over the epoch's data; 1 is one full-batch step
            per pass (Spinning Up).
        max_grad_norm (float): Clip each network's gradient norm, averaged over ranks, to this; 0
            turns clipping off (Spinning Up).
        adam_eps (float): Adam's epsilon (CleanRL and Stable-Baselines3: 1e-5).
        anneal_lr (bool): Lower both learning rates linearly to 0 over the epochs (CleanRL's
            default; Spinning Up: off).
        lambda_returns (bool): Fit V to the GAE-lambda returns; off, to the discounted
            rewards-to-go (Spinning Up).
        log_std_init (float): Initial log std of the Gaussian policy, learned from there.
        num_envs (int): Environments over all ranks, a multiple of the ranks; each rank steps
            its share as one batch, one policy call per step.
        normalize_obs (bool): Normalize observations by running statistics merged over ranks,
            clipped to [-10, 10] (Spinning Up: off).
        normalize_rew (bool): Scale rewards by the running std of the discounted return, clipped
            to [-10, 10]; EpRet stays the env's (Spinning Up: off).
        warmup_normalizers (bool): Run one epoch of the untrained policy only to give the
            normalizers their first statistics; it counts in TotalEnvInteracts (Spinning Up: off).
        ortho_init (bool): Orthogonal initialization as CleanRL and Stable-Baselines3 do
            (Spinning Up: PyTorch's default).
        privileged_critic (bool): Where a Dict-observation env gives its full state in
            ``info["state"]``, the critic learns from that instead (an asymmetric critic).
        state_loss_coef (float): Weight of the actor's auxiliary loss of guessing that state
            from its own inputs (with privileged_critic); 0 turns it off.
        eval_freq (int): Epochs between evaluations of the deterministic policy on seeds that
            training never uses; 0 turns evaluation off.
        eval_episodes (int): Episodes per evaluation, over all ranks.
        resume (str): A run directory to continue from its last checkpoint, with the run's own
            arguments and number of ranks; epochs may be raised.
        quiet (bool): Print nothing per epoch; files are written as usual.
        tensorboard (bool): Also write every progress column to RUN_DIR/tb for TensorBoard.

    Returns:
        The trained actor-critic (a torch.nn.Module); ``ac.act(obs, deterministic=True)`` takes
        raw observations, as the env returns them.
    """
    check_arguments(num_procs(), **locals())
    setup_pytorch_for_mpi()
    config = dict(locals())
    checkpoint, schedule = None, None
    if resume is not None:
        checkpoint, config["resumed"], schedule = load_resume(resume, config)
        logger_kwargs = dict(logger_kwargs, output_dir=resume)
    # Every stream from one SeedSequence of the seed (utils/seeding.py): each rank and each env
    # draws its own, and no two seeds share one.
    torch_seed, numpy_seed = rank_seeds(seed, proc_id())
    torch.manual_seed(torch_seed)
    np.random.seed(numpy_seed)
    local_envs = num_envs // num_procs()
    eval_seed = evaluation_seed(seed)

    with ExitStack() as on_exit:  # the envs and the logger are closed on every way out
        envs = on_exit.enter_context(EnvBatch(env_fn, local_envs, privileged_critic))
        eval_env = on_exit.enter_context(make_env(env_fn))
        check_spaces(envs.observation_space, envs.action_space)
        # Made after the envs: an env that fails leaves no run directory, and the default run
        # name comes from the env's id and keywords (seed: rank 0's).
        env = env_record(envs)
        config.update(env, mpi_ranks=num_procs())
        logger_kwargs = with_run_dir(logger_kwargs, config["seed"], **env)
        logger = on_exit.enter_context(
            EpochLogger(  # collective: rank 0 makes the run directory and tells the others
                **logger_kwargs,
                resume_rows=None if checkpoint is None else checkpoint["epoch"] + 1,
                quiet=quiet,
                tensorboard=tensorboard,
            )
        )
        on_exit.push(explain_a_stop(logger.output_dir))
        config["logger_kwargs"] = dict(logger_kwargs, output_dir=str(logger.output_dir))
        logger.save_config(config)  # on resume too: it records the epochs trained to
        logger.announce(f"Run directory: {logger.output_dir.resolve()}")

        if actor_critic is None:
            actor_critic = core.default_actor_critic(envs.observation_space)
        ac = actor_critic(
            envs.observation_space,
            envs.action_space,
            normalize_obs=normalize_obs,
            log_std_init=log_std_init,
            **ac_kwargs,
        )
        check_actor_critic(ac)
        if ortho_init:
            core.orthogonal_init(ac)
        sync_params(ac)  # collective: identical starting parameters on every rank
        var_counts = tuple(core.count_vars(module) for module in [ac.pi, ac.v])
        logger.log(f"\nNumber of parameters: \t pi: {var_counts[0]}, \t v: {var_counts[1]}\n")
        local_steps_per_env = steps_per_epoch // num_envs
        buf = make_buffer(envs, local_steps_per_env, gamma, lam, lambda_returns)
        rew_scaler = core.RewardScaler(local_envs, gamma) if normalize_rew else None
        rew_rms = None if rew_scaler is None else rew_scaler.ret_rms
        optimizers = make_optimizers(ac, pi_lr, vf_lr, adam_eps)
        get_action = policy_function(ac, envs.action_space, deterministic=True)
        settings = {name: config[name] for name in UPDATE_ARGUMENTS}
        if not envs.critic_state:
            settings["state_loss_coef"] = 0.0  # no privileged state to guess

        progress = Progress(kl_beta=kl_beta)
        if checkpoint is None:
            envs.reset(env_seeds(seed, first=proc_id() * local_envs, count=local_envs))
            if warmup_normalizers and (ac.obs_rms is not None or rew_rms is not None):
                # collective
                warm_up_normalizers(ac, envs, buf, logger, max_ep_len, rew_scaler, progress)
        else:
            progress = restore(checkpoint, ac, optimizers, rew_scaler, envs, logger)  # collective
            logger.log(f"Resuming {resume} after epoch {progress.epoch}.")
            if schedule is not None:
                logger.announce(schedule)
        start_time = time.time() - progress.elapsed_time
        logger.start_progress_bar(epochs, initial=progress.epoch + 1)
        ctrl_c = on_exit.enter_context(CtrlC())  # Ctrl-C on any rank: all stop after the epoch

        for epoch in range(progress.epoch + 1, epochs):
            epoch_start = time.time()
            if anneal_lr:  # linearly, from the full rate at epoch 0 to 0 after the last epoch
                set_learning_rates(optimizers, (pi_lr, vf_lr), 1 - epoch / epochs)
            collect_epoch(ac, envs, buf, logger, local_steps_per_env, max_ep_len, epoch, rew_scaler)
            data = normalize_advantages(buf.get())  # collective
            sync_normalizers(ac.obs_rms, rew_rms)  # collective
            try:
                stats = update(ac, optimizers, data, progress.kl_beta, **settings)  # collective
            except FloatingPointError as e:
                raise FloatingPointError(
                    f"epoch {epoch}: {e}; training stopped before the model took a NaN, and the "
                    f"last checkpoint in {logger.output_dir} is the last good one. Lower pi_lr or "
                    "vf_lr, or check the scale of the environment's rewards."
                ) from None
            if stats["StopIter"] < train_pi_iters * minibatches:
                logger.log(f"Early stopping at step {stats['StopIter']} due to reaching max kl.")
            logger.store(**stats)
            if loss == "penalty":
                kl = mpi_avg(stats["KL"])  # collective
                progress.kl_beta = adapt_kl_penalty(progress.kl_beta, kl, target_kl)
            progress.epoch = epoch
            # collective: the epoch's env steps, and whether any rank saw Ctrl-C or is_success
            steps, stop, success = mpi_sum([buf.max_size * local_envs, ctrl_c.pressed,
                                            envs.reports_success])  # fmt: skip
            progress.total_env_interacts += int(steps)
            if progress.reports_success is None:  # the columns are fixed by epoch 0's row
                progress.reports_success = envs.reports_success = bool(success)

            if eval_freq > 0:
                due = (epoch + 1) % eval_freq == 0 or epoch == epochs - 1
                episodes = eval_episodes if due else 0
                logger.store(**evaluate(eval_env, get_action, episodes, max_ep_len, eval_seed))
            progress.elapsed_time = time.time() - start_time
            steps_per_sec = steps_per_epoch / (time.time() - epoch_start)
            # collective: the statistics of every column over the ranks
            state_loss = settings["state_loss_coef"] > 0
            log_epoch(
                logger, progress, progress.reports_success, eval_freq > 0, loss, state_loss,
                steps_per_sec,
            )  # fmt: skip
            if (epoch + 1) % save_freq == 0 or epoch == epochs - 1 or stop:
                # collective: every rank's generators and episodes, gathered to rank 0
                save(logger.output_dir, progress, ac, ac_kwargs, optimizers, rew_scaler, envs)
            if stop:
                raise Interrupted  # on every rank at once: none waits in a collective

        final = evaluate(eval_env, get_action, eval_episodes, max_ep_len, eval_seed)
        ret, success = (
            mpi_statistics_scalar(final[key])[0] for key in ("EvalEpRet", "EvalSuccessRate")
        )
        logger.announce(  # collective ^: over the ranks' episodes
            f"The final deterministic policy on {eval_episodes} episodes of unseen seeds: "
            + (f"success rate {success:.2f}, " if progress.reports_success else "")
            + f"average return {ret:.4g}."
        )
        logger.announce(
            f"Run directory: {logger.output_dir.resolve()} (done). Run the policy: "
            + shell_command("-m", "utils.test_policy", logger.output_dir.resolve())
        )
    return ac


def main(argv: list[str] | None = None):
    """The command line (python ppo.py --help); returns the trained actor-critic."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    check_or_exit(args)  # collective: every rank's first error, printed once
    try:
        return ppo(
            lambda: gym.make(args.env, **args.env_kwargs),
            ac_kwargs=dict(hidden_sizes=args.hidden_sizes),
            logger_kwargs=setup_logger_kwargs(args.exp_name, args.seed, args.data_dir),
            **args.ppo_kwargs,
        )
    except (ValueError, FloatingPointError) as e:
        if num_procs() > 1:
            raise  # on one rank only, maybe: the excepthook aborts the whole job
        fail(str(e))
    except Interrupted:
        sys.exit(130)  # every rank stopped at the same point; ppo() said how to resume
    except KeyboardInterrupt:
        if num_procs() > 1:
            raise  # a rank may wait in a collective: the excepthook aborts the whole job
        sys.exit(130)


if __name__ == "__main__":
    main()
