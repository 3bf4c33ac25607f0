"""Checkpoints: what one holds, how it is written and read back, and what a resume must match.

A checkpoint is one file per run, `RUN_DIR/checkpoint.pt`, written by rank 0 every save_freq
epochs and at the end. It holds tensors and plain types only, so `torch.load(path,
weights_only=True)` reads it without the training code's pickles:

    epoch, total_env_interacts, elapsed_time, kl_beta, reports_success   where training
                                          stands (Progress)
    ac, ac_kwargs, normalize_obs          the actor-critic (normalizer included) and its shape
    critic_dim                            the size of a privileged critic's state (0: none)
    pi_optimizer, vf_optimizer            the optimizers' moments
    rew_rms                               the reward scale's statistics (normalize_rew), or None
    ranks                                 per rank: its generators (torch, numpy), its envs'
                                          episodes in flight, the reward scale's returns

`save_checkpoint` and `restore_checkpoint` sit side by side below, so what is written and what is
read back can be compared at a glance. `save_run` and `restore_run` add every rank's part,
gathered to rank 0 and scattered back: collective calls, which ppo() marks where it makes them.
A resume's rules (what must match, what is recorded) come from utils/arguments.py.
"""

from __future__ import annotations

import errno
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from gymnasium.spaces import Box, Dict, Space

import core
from utils.arguments import ARGUMENTS, FREE, MATCH, PPOArgs, from_config, names
from utils.logx import CHECKPOINT_FILE, convert_json, load_config, shell_command
from utils.mpi import allgather, gather, proc_id, scatter

PPO_SCRIPT = Path(__file__).resolve().parents[1] / "ppo.py"


def saved_ac_kwargs(ac_kwargs: dict) -> dict:
    """What a checkpoint records to rebuild the MLPActorCritic (actor_critic_from_checkpoint)."""
    return dict(
        hidden_sizes=list(ac_kwargs.get("hidden_sizes", (64, 64))),
        activation=ac_kwargs.get("activation", nn.Tanh).__name__,
    )


@dataclass
class Progress:
    """Where training stands after an epoch; a checkpoint saves it beside the weights."""

    epoch: int = -1  # the last epoch finished
    total_env_interacts: int = 0
    elapsed_time: float = 0.0  # seconds of training so far, over every resume
    kl_beta: float = 1.0  # the KL penalty's coefficient (loss="penalty")
    reports_success: bool | None = None  # does the env report is_success? (after epoch 0)


def save_checkpoint(
    run_dir: str | Path,
    progress: Progress,
    ac: nn.Module,
    ac_kwargs: dict,
    pi_optimizer: torch.optim.Optimizer,
    vf_optimizer: torch.optim.Optimizer,
    ranks: list[dict],
    rew_rms: nn.Module | None = None,
) -> None:
    """Write everything a resumed run needs to go on as this one would (rank 0 calls this)."""
    state = dict(
        **asdict(progress),
        ac=ac.state_dict(),
        ac_kwargs=saved_ac_kwargs(ac_kwargs),
        normalize_obs=ac.obs_rms is not None,
        critic_dim=getattr(ac, "critic_dim", 0),
        pi_optimizer=pi_optimizer.state_dict(),
        vf_optimizer=vf_optimizer.state_dict(),
        ranks=ranks,
        rew_rms=None if rew_rms is None else rew_rms.state_dict(),
    )
    atomic_torch_save(state, Path(run_dir) / CHECKPOINT_FILE)


def restore_checkpoint(
    checkpoint: dict,
    ac: nn.Module,
    pi_optimizer: torch.optim.Optimizer,
    vf_optimizer: torch.optim.Optimizer,
    rew_rms: nn.Module | None = None,
) -> Progress:
    """Load the networks, optimizers and reward scale in place; return where training stopped.
    Each rank restores its own part (`ranks`) with restore_rank_state."""
    try:
        ac.load_state_dict(checkpoint["ac"])
        pi_optimizer.load_state_dict(checkpoint["pi_optimizer"])
        vf_optimizer.load_state_dict(checkpoint["vf_optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:  # a network of other shapes or layers
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(
            f"the checkpoint's networks do not fit the ones this resume builds ({reason}); "
            "resume with the run's own actor_critic and ac_kwargs."
        ) from None
    if rew_rms is not None:
        rew_rms.load_state_dict(checkpoint["rew_rms"])
    saved = {
        field.name: checkpoint[field.name] for field in fields(Progress) if field.name in checkpoint
    }
    return Progress(**saved)


def rank_state(envs, rew_scaler: core.RewardScaler | None) -> dict:
    """This rank's part of a checkpoint: its random generators (torch, numpy's global one), its
    envs' episodes in flight (ppo.EnvBatch.episodes) and the reward scale's running returns."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()  # plain types only
    return dict(
        torch=torch.get_rng_state(),
        numpy=numpy_state,
        episodes=envs.episodes(),
        rew_returns=None if rew_scaler is None else rew_scaler.returns.tolist(),
    )


def restore_rank_state(state: dict, envs, rew_scaler: core.RewardScaler | None) -> float:
    """Continue this rank where rank_state() left it; returns how far the envs' replayed
    episodes are from the saved observations (ppo.EnvBatch.restore_episodes)."""
    torch.set_rng_state(state["torch"])
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = dict(numpy_state["state"])
    numpy_state["state"]["key"] = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(numpy_state)
    drift = envs.restore_episodes(state["episodes"])
    if rew_scaler is not None and state.get("rew_returns") is not None:
        rew_scaler.returns = np.array(state["rew_returns"])
    return drift


def save_run(run_dir, progress: Progress, ac, ac_kwargs, optimizers, rew_scaler, envs) -> None:
    """Checkpoint the run. Collective: every rank's generators and episodes in flight are
    gathered to rank 0, which writes the file."""
    ranks = gather(rank_state(envs, rew_scaler))
    if proc_id() == 0:
        rew_rms = None if rew_scaler is None else rew_scaler.ret_rms
        save_checkpoint(run_dir, progress, ac, ac_kwargs, *optimizers, ranks, rew_rms)


def restore_run(checkpoint, ac, optimizers, rew_scaler, envs, logger) -> Progress:
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


def atomic_torch_save(obj, path: Path) -> None:
    """Write to a temporary file and rename it over the target: a kill at any instant leaves
    either the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or a kill mid-write leaves no torn file
        raise


def load_checkpoint(run_dir: str | Path) -> dict:
    """The checkpoint of a run, or a ValueError that says what is missing or broken."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not Path(run_dir).is_dir():
        raise ValueError(f"run directory {run_dir} does not exist; give the directory of a run.")
    if not path.exists():
        raise ValueError(
            f"{path} does not exist: the run has saved no checkpoint yet (one is written "
            "every save_freq epochs and at the end)."
        )
    try:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # torch raises many types for a torn or foreign file
        # torch's messages run to several sentences of advice about weights_only; the first
        # one says what is wrong with the file.
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0].rstrip(".")
        raise ValueError(f"{path} is not a readable checkpoint ({reason}).") from None
    needed = ("epoch", "ac", "ac_kwargs", "normalize_obs")
    if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in needed):
        raise ValueError(f"{path} is not a ppo.py checkpoint (it needs {needed}).")
    if "rng" in checkpoint:  # saved before 2026-12-06: generators only; its episodes restart
        checkpoint["ranks"] = [
            dict(rank, episodes=dict(reset_rng=rank["envs"])) for rank in checkpoint.pop("rng")
        ]
    return checkpoint


def load_run(run_dir: str | Path) -> tuple[dict, dict]:
    """(config, checkpoint) of a run directory, each checked, with a ValueError if not usable."""
    return load_config(run_dir), load_checkpoint(run_dir)


def check_resume(args: PPOArgs, saved_config: dict, checkpoint: dict, ranks: int) -> None:
    """A resumed run must have the saved run's ranks, its networks, and its values of the
    arguments a resume must keep (MATCH in utils/arguments.py)."""
    saved = from_config(saved_config)
    saved_ranks = len(checkpoint["ranks"])
    if saved_ranks != ranks:
        raise ValueError(
            f"the run in {args.resume} was trained with {saved_ranks} MPI ranks and this job "
            f"has {ranks}; resume it with {saved_ranks} (--cpu {saved_ranks})."
        )
    network = saved_ac_kwargs(args.ac_kwargs)  # what the checkpoint's shapes come from
    for name, now, then in [
        *((n, getattr(args, n), getattr(saved, n)) for n in names(MATCH)),
        *((key, value, checkpoint["ac_kwargs"][key]) for key, value in network.items()),
    ]:
        if now != then:
            raise ValueError(
                f"{name}={now!r} differs from {then!r} of the run in {args.resume}; "
                "resume with the run's own arguments (its config.json), as "
                "`python ppo.py --resume RUN_DIR` does."
            )
    if (args.eval_freq > 0) != (saved.eval_freq > 0):  # progress.txt's Eval columns
        keep = "off (eval_freq=0)" if saved.eval_freq == 0 else "on (eval_freq > 0)"
        raise ValueError(
            f"eval_freq={args.eval_freq} differs from {saved.eval_freq} of the run in "
            f"{args.resume} in turning evaluation on or off, which would change its "
            f"progress.txt columns; resume with evaluation {keep}."
        )


def resume_record(config: dict, saved_config: dict, anneal_lr: bool, from_epoch: int) -> list[dict]:
    """config.json's "resumed" list, with this resume added if it changed a setting: from which
    epoch on each changed value holds, and what it was before. Changes of FREE arguments go
    unrecorded, but for the epochs when the learning rates anneal over them."""
    record = list(saved_config.get("resumed", []))
    now, then = convert_json(config), saved_config
    recorded = {*ARGUMENTS, "env_id", "env_kwargs"} - set(names(FREE))
    if anneal_lr:
        recorded.add("epochs")
    changed = {
        key: {"before": then.get(key), "after": value}
        for key, value in now.items()
        if key in recorded and key in then and then[key] != value
    }
    if changed:
        record.append(dict(from_epoch=from_epoch, changed=changed))
    return record


def schedule_note(args: PPOArgs, saved: PPOArgs, from_epoch: int) -> str | None:
    """What a resume that changes the epochs does to an annealed learning rate (None: nothing)."""
    if not args.anneal_lr or args.epochs == saved.epochs:
        return None
    return (
        f"anneal_lr: the learning rates now fall to 0 over {args.epochs} epochs instead of "
        f"{saved.epochs}: from epoch {from_epoch} on they run at "
        f"{1 - from_epoch / args.epochs:.3f} of pi_lr and vf_lr, where the run's last epoch ran "
        f"at {1 - (from_epoch - 1) / saved.epochs:.3f} (config.json records the change)."
    )


def load_resume(args: PPOArgs, config: dict, ranks: int) -> tuple[dict, list[dict], str | None]:
    """The last checkpoint of the run args.resume names, checked against `args`; the record
    config.json keeps of what the resume changed; what it does to an annealed learning rate."""
    checkpoint = load_checkpoint(args.resume)
    saved_config = load_config(args.resume)
    check_resume(args, saved_config, checkpoint, ranks)
    from_epoch = checkpoint["epoch"] + 1
    note = schedule_note(args, from_config(saved_config), from_epoch)
    return checkpoint, resume_record(config, saved_config, args.anneal_lr, from_epoch), note


def explain_a_stop(run_dir: Path):
    """An exit callback for ppo()'s ExitStack: after Ctrl-C, or a disk that filled up, one line
    that says how to go on from the last checkpoint (which a failed write leaves whole)."""

    def on_exit(exc_type, exc, _) -> bool:
        resume = shell_command(PPO_SCRIPT, "--resume", run_dir.resolve())
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


def actor_critic_from_checkpoint(
    checkpoint: dict, observation_space: Space, action_space: Space
) -> core.MLPActorCritic:
    """Rebuild the actor-critic, observation normalizer included, that ppo() saved: the MLP, or
    for a Dict observation space the CNN one (with its privileged critic's input, if any)."""
    if checkpoint.get("critic_dim"):
        critic = Box(-np.inf, np.inf, (checkpoint["critic_dim"],), np.float32)
        observation_space = Dict({**observation_space.spaces, core.CRITIC_KEY: critic})
    network = dict(checkpoint["ac_kwargs"])  # as saved_ac_kwargs wrote it
    network["activation"] = getattr(nn, network["activation"])
    ac = core.default_actor_critic(observation_space)(
        observation_space, action_space, normalize_obs=checkpoint["normalize_obs"], **network
    )
    ac.load_state_dict(checkpoint["ac"])
    return ac
