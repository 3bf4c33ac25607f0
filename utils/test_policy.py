"""Run a saved policy: average return, episode length, success rate, and a video (Spinning Up's).

    python -m utils.test_policy data/ppo-ArmReach-v0/ppo-ArmReach-v0_s0 --episodes 10 --video a.gif

The run directory's config.json names the environment (env_id) and its checkpoint.pt holds the
actor-critic with its observation normalizer; nothing else from the training run is needed.
Videos are rendered headless (render_mode="rgb_array"): .gif needs only imageio, .mp4 also needs
imageio-ffmpeg (which ships its own ffmpeg binary).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Discrete

import core
from utils.arguments import from_config
from utils.checkpoint import actor_critic_from_checkpoint, load_run
from utils.cli import DefaultsHelpFormatter, one_line, one_line_errors
from utils.logx import CONFIG_FILE, later_runs, warnings_as_notes
from utils.mpi import num_procs, proc_id

VIDEO_FORMATS = (".gif", ".mp4")


def load_actor_critic(
    run_dir: str | Path, render_mode: str | None = None
) -> tuple[core.MLPActorCritic, gym.Env, dict]:
    """(actor-critic with its obs_rms, a new env of the run's env_id, config) of a run directory."""
    config, checkpoint = load_run(run_dir)
    if later := later_runs(run_dir):
        warnings.warn(
            f"{later[-1]} is a later run of the same name as {run_dir}, which this loads; "
            "give the later one's directory if you meant it",
            stacklevel=2,
        )
    env_id = config.get("env_id")
    if env_id is None:
        raise ValueError(
            f"{Path(run_dir) / CONFIG_FILE} has no env_id: the run's env was not made by "
            "gym.make from a registered id, so build it yourself and use "
            "utils.checkpoint.actor_critic_from_checkpoint."
        )
    # Registers ArmReach-v0. Imported only here, as pybullet prints a banner on import, which
    # the one-line errors above (no such run, no checkpoint) should not be mixed with.
    import envs  # noqa: F401

    try:
        env = gym.make(env_id, **dict(config.get("env_kwargs", {}), render_mode=render_mode))
    except (gym.error.Error, TypeError) as e:
        raise ValueError(f"cannot make the run's env {env_id!r}: {e}") from None
    try:
        ac = actor_critic_from_checkpoint(checkpoint, env.observation_space, env.action_space)
    except (RuntimeError, KeyError, AttributeError) as e:
        env.close()
        reason = str(e).strip().splitlines()[0]
        raise ValueError(f"the checkpoint of {run_dir} does not fit {env_id}: {reason}") from None
    ac.eval()
    return ac, env, config


def first_frame(env: gym.Env) -> np.ndarray:
    """The env's first frame, or a ValueError of one line if its renderer lacks a package."""
    try:
        return env.render()
    except gym.error.DependencyNotInstalled as e:
        name = env.spec.id if env.spec is not None else type(env).__name__
        raise ValueError(f"{name}'s renderer needs a package that is not installed: {e}") from None


def load_policy_and_env(
    run_dir: str | Path, deterministic: bool = True, render_mode: str | None = None
) -> tuple[gym.Env, Callable[[np.ndarray], np.ndarray | int]]:
    """The run's environment and its policy as a function of one raw observation.

    Args:
        run_dir: A run directory (config.json and checkpoint.pt, as ppo.py writes them).

        deterministic: True: the Gaussian mean (the most likely action for Discrete); False:
            sample from the policy, as during training.

        render_mode: Passed to gym.make: None, "rgb_array" (headless frames, for videos) or
            "human".

    Returns:
        (env, get_action): env = gym.make(config["env_id"], render_mode=render_mode);
        get_action(obs) takes one observation as the env returns it, applies the saved
        observation normalization, and returns an action the env accepts: a numpy array
        clipped into the bounds for Box, an int for Discrete.
    """
    ac, env, _ = load_actor_critic(run_dir, render_mode)
    return env, policy_function(ac, env.action_space, deterministic)


def policy_function(
    ac, space: gym.Space, deterministic: bool = True
) -> Callable[[np.ndarray], np.ndarray | int]:
    """get_action(obs) for an actor-critic: one raw observation in, one valid action out."""

    def get_action(obs: np.ndarray) -> np.ndarray | int:
        act = ac.act(obs, deterministic=deterministic)  # normalizes the raw observation itself
        act = core.env_action(act, space)  # as in training: clipped into a Box, shaped as it
        return int(act) if isinstance(space, Discrete) else act

    return get_action


def check_video_path(video: str | Path) -> Path:
    """`video` as a Path if its suffix is a format we write, else ValueError saying which are."""
    video = Path(video)
    if video.suffix.lower() not in VIDEO_FORMATS:
        raise ValueError(
            f"cannot write a video to {video}: use a {' or '.join(VIDEO_FORMATS)} file name."
        )
    if video.suffix.lower() == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ValueError(
                f"writing {video} needs imageio-ffmpeg (pip install imageio-ffmpeg); "
                "or write a .gif, which needs only imageio."
            ) from None
    return video


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """Write RGB frames (H, W, 3) uint8 as a GIF (Pillow) or an MP4 (H.264, via ffmpeg)."""
    import imageio.v3 as iio  # only needed for videos

    if path.suffix.lower() == ".gif":
        # GIF stores frame durations in milliseconds (rounded to 10 ms); loop=0 loops forever.
        iio.imwrite(path, np.stack(frames), extension=".gif", duration=1000 / fps, loop=0)
    else:
        import imageio.v2 as imageio

        with imageio.get_writer(path, format="FFMPEG", fps=fps, codec="libx264") as writer:
            for frame in frames:
                writer.append_data(frame)


def beside(frame: np.ndarray, obs) -> np.ndarray:
    """The env's frame with, to its right, each image of a Dict observation (what the policy
    saw; a uint16 one, a depth, in grey from black at 0 to white at its largest value), scaled
    up by a whole factor to the frame's height at most."""
    images = (
        [v for v in obs.values() if v.dtype in core.IMAGE_DTYPES and v.ndim == 3]
        if isinstance(obs, dict)
        else []
    )
    images = [
        image if image.dtype == np.uint8 else (255.0 * image / max(1, image.max())).astype(np.uint8)
        for image in images
    ]
    parts = [frame]
    for image in images:
        scale = max(1, frame.shape[0] // image.shape[0])
        big = image.repeat(scale, axis=0).repeat(scale, axis=1)[: frame.shape[0]]
        big = np.broadcast_to(big, (*big.shape[:2], 3)) if big.shape[2] == 1 else big[..., :3]
        pad = np.zeros((frame.shape[0] - big.shape[0], big.shape[1], 3), np.uint8)
        parts.append(np.concatenate([big, pad]))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else frame


def run_policy(
    env: gym.Env,
    get_action: Callable[[np.ndarray], np.ndarray | int],
    episodes: int = 10,
    seed: int = 0,
    video: str | Path | None = None,
    video_episodes: int = 3,
    max_ep_len: int | None = None,
    verbose: bool = False,
) -> dict:
    """Run `episodes` episodes of `get_action` in `env` and summarize them.

    Args:
        env: A Gymnasium env, made with render_mode="rgb_array" when `video` is given.

        get_action: Maps one observation to one action (see load_policy_and_env).

        episodes: Number of episodes; episode i starts with env.reset(seed=seed + i), so a run
            is reproducible.

        seed: Seed of the first episode's reset.

        video: A .gif or .mp4 file to write the first `video_episodes` episodes to (one frame
            after each reset and after each step; beside it, the images of a Dict observation,
            what the policy saw), at env.metadata["render_fps"] frames per second; None for no
            video.

        video_episodes: How many of the first episodes go into the video.

        max_ep_len: Cut episodes after this many steps, on top of the env's own time limit
            (None: only the env's limit).

        verbose: Print one line per episode.

    Returns:
        dict(avg_return, avg_length, success_rate, returns, lengths, successes, video_frames);
        success_rate is the fraction of episodes whose last step had info["is_success"] true,
        None if the env does not report is_success; successes holds each such episode's 0 or 1.
    """
    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be at least 1.")
    if video is not None:
        video = check_video_path(video)
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"a video needs an env made with render_mode='rgb_array', not {env.render_mode!r}."
            )
    frames: list[np.ndarray] = []
    returns, lengths, successes = [], [], []
    for i in range(episodes):
        record = video is not None and i < video_episodes
        obs, info = env.reset(seed=seed + i)
        if record:
            frames.append(beside(first_frame(env) if i == 0 else env.render(), obs))
        ep_ret, ep_len, done = 0.0, 0, False
        while not done:
            obs, rew, terminated, truncated, info = env.step(get_action(obs))
            ep_ret += float(rew)
            ep_len += 1
            done = terminated or truncated or (max_ep_len is not None and ep_len >= max_ep_len)
            if record:
                frames.append(beside(env.render(), obs))
        returns.append(ep_ret)
        lengths.append(ep_len)
        if "is_success" in info:
            successes.append(float(info["is_success"]))
        if verbose:
            success = f"\tSuccess {bool(info['is_success'])}" if "is_success" in info else ""
            print(f"Episode {i}\tEpRet {ep_ret:.3f}\tEpLen {ep_len}{success}", flush=True)
    if video is not None:
        write_video(video, frames, env.metadata.get("render_fps", 30))
    return dict(
        avg_return=float(np.mean(returns)),
        avg_length=float(np.mean(lengths)),
        success_rate=float(np.mean(successes)) if len(successes) == episodes else None,
        returns=returns,
        lengths=lengths,
        successes=successes,
        video_frames=len(frames),
    )


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m utils.test_policy",
        description="Run a saved policy headless: average return, episode length, success rate.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("run_dir", help="A run directory (config.json and checkpoint.pt).")
    parser.add_argument("--episodes", "-n", type=int, default=10, help="Episodes to run.")
    parser.add_argument("--seed", type=int, default=0, help="Episode i resets with seed + i.")
    parser.add_argument("--stochastic", action="store_true", help="Sample actions, not the mean.")
    parser.add_argument("--video", help="Write the first episodes to this .gif or .mp4 file.")
    parser.add_argument(
        "--video_episodes", "--video-episodes", type=int, default=3, help="Episodes in the video."
    )
    parser.add_argument(
        "--max_ep_len",
        "--max-ep-len",
        type=int,
        default=None,
        help="Cut episodes after this many steps (default: the run's max_ep_len, as in training).",
    )
    one_line_errors(parser)
    args = parser.parse_args(argv)
    warnings_as_notes(parser.prog)
    try:
        if args.video is not None:
            check_video_path(args.video)  # fail before the episodes run, not after
        ac, env, config = load_actor_critic(args.run_dir, "rgb_array" if args.video else None)
        get_action = policy_function(ac, env.action_space, deterministic=not args.stochastic)
        max_ep_len = args.max_ep_len or from_config(config).max_ep_len
        stats = run_policy(
            env,
            get_action,
            episodes=args.episodes,
            seed=args.seed,
            video=args.video,
            video_episodes=args.video_episodes,
            max_ep_len=max_ep_len,
            verbose=True,
        )
        env.close()
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {one_line(e)}\n")
    success = stats["success_rate"]
    print(f"AverageEpRet\t{stats['avg_return']:.4g}")
    print(f"EpLen\t{stats['avg_length']:.4g}")
    print(f"SuccessRate\t{'n/a (the env reports no is_success)' if success is None else success}")
    if args.video:
        print(f"Video\t{args.video} ({stats['video_frames']} frames)")


if __name__ == "__main__":
    main(sys.argv[1:])
