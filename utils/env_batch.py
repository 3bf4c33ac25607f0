"""The batch of environments one rank steps, the episodes running in them, and the checks of
what ppo() takes from an env: its spaces and its first observation.

Not Gymnasium's SyncVectorEnv: its autoreset runs inside step(), where a resume could not take
each env's generator as it was before the reset, nor the actions since, which it replays to go on
with an episode in flight bit for bit (utils/checkpoint.py).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Box, Dict, Discrete

import core
from utils.env_check import make_env


class EnvBatch:
    """The K environments one rank steps together, and the episodes running in them.

    With `privileged_critic`, an env with a Dict observation space that puts its full state in
    `info["state"]` (ArmReach-v1's pixels) has it added to every observation under
    core.CRITIC_KEY, for the critic alone: `observation_space` then includes it."""

    def __init__(self, env_fn, k: int, privileged_critic: bool = False):
        self.envs: list[gym.Env] = []
        try:
            for _ in range(k):  # one by one: close() must reach those made before a failure
                self.envs.append(make_env(env_fn))
            self.observation_space = self.envs[0].observation_space
            self.action_space = self.envs[0].action_space
            check_spaces(self.observation_space, self.action_space)
        except BaseException:
            self.close()
            raise
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
            # int32: torch cannot unpickle a uint16 tensor (a depth image)
            obs=core.map_obs(
                lambda v: torch.tensor(v.astype(np.int32) if v.dtype == np.uint16 else v), self.obs
            ),
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


def env_record(envs: EnvBatch) -> dict:
    """What config.json records of the env: its registered id and keywords (None and {} for an
    env made without gym.make)."""
    if envs.spec is None:
        return dict(env_id=None, env_kwargs={})
    return dict(env_id=envs.spec.id, env_kwargs=envs.spec.kwargs)
