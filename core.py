"""Reusable pieces of PPO: the MLP actor-critic, the GAE-lambda buffer, observation normalization.

Everything here is local to one process: no MPI. Where statistics must be merged over ranks (the
advantages' mean and std, the normalizer's moments), ppo.py makes the collective calls and hands
the results to these pieces.

Shapes in this file: `K` is the number of environments a rank steps as a batch, `T` the number of
steps each of them takes per epoch. An observation is an array, or for a Dict observation space a
dict of arrays: its images (uint8 or uint16, channel-last) go through a CNN, scaled to [0, 1]
inside the network and nowhere else; its vectors through the normalizer. `map_obs` applies a
function to either kind.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from gymnasium.spaces import Box, Dict, Discrete, Space
from torch.distributions import Categorical, Distribution, Normal

# The key under which ppo() adds the env's privileged state (info["state"]) to a Dict observation
# for an asymmetric critic: the critic reads it, the actor never does.
CRITIC_KEY = "critic"


IMAGE_DTYPES = (np.uint8, np.uint16)  # colour; uint16 for a depth in millimetres, say


def is_image(space: Space) -> bool:
    """An image entry of a Dict space: a uint8 or uint16 Box of shape (height, width,
    channels)."""
    return isinstance(space, Box) and space.dtype in IMAGE_DTYPES and len(space.shape) == 3


def map_obs(fn, obs):
    """fn(obs) for an array (or tensor), {key: fn(value)} for a dict of them."""
    if isinstance(obs, dict):
        return {key: fn(value) for key, value in obs.items()}
    return fn(obs)


def take(obs, index):
    """obs[index] of an observation batch (an array or tensor, or a dict of them)."""
    return map_obs(lambda value: value[index], obs)


def batch_size(obs) -> int:
    """The number of observations in a batch (an array, or a dict of arrays)."""
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)


def stack_obs(observations: list):
    """Observations of several envs as one batch (an array, or a dict of arrays)."""
    if isinstance(observations[0], dict):
        return {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return np.stack(observations)


def as_tensor(obs):
    """An observation batch as tensors, dtypes kept (images stay uint8 until the CNN)."""
    return map_obs(torch.as_tensor, obs)


def mlp(sizes, activation, output_activation=nn.Identity) -> nn.Sequential:
    layers = []
    for j in range(len(sizes) - 1):
        act = activation if j < len(sizes) - 2 else output_activation
        layers += [nn.Linear(sizes[j], sizes[j + 1]), act()]
    return nn.Sequential(*layers)


def cnn(channels: int) -> nn.Sequential:
    """A 4 x 4 patch embedding (16 filters, stride 4), two 3 x 3 convolutions (16 filters) and a
    spatial softmax: 2 numbers per filter, the expected image coordinates of what it responds to
    (Levine et al. 2016). A reach needs where things are: docs/algorithm.md, "Pixels", measures
    it against flattening (bench/encoders.py)."""
    return nn.Sequential(
        nn.Conv2d(channels, 16, 4, stride=4),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=1, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=1, padding=1),
        SpatialSoftmax(),
    )


class SpatialSoftmax(nn.Module):
    """(batch, channels, h, w) -> (batch, 2 * channels): per channel, the softmax over its map's
    positions, and under it the expected x and y, each in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.grids: dict[tuple[int, int], torch.Tensor] = {}  # (2, h * w) per map size

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        weights = torch.softmax(features.reshape(batch, channels, height * width), dim=-1)
        # linear(), not @: on the CPU, a matmul with 2 columns runs 5x slower than this
        expected = nn.functional.linear(weights, self.grid(height, width))  # (b, c, 2): x, y
        return expected.transpose(1, 2).reshape(batch, 2 * channels)

    def grid(self, height: int, width: int) -> torch.Tensor:
        if (height, width) not in self.grids:
            ys, xs = torch.meshgrid(
                torch.linspace(-1.0, 1.0, height), torch.linspace(-1.0, 1.0, width), indexing="ij"
            )
            self.grids[height, width] = torch.stack([xs.reshape(-1), ys.reshape(-1)])
        return self.grids[height, width]


CNN_MIN_SIZE = 8


class DictEncoder(nn.Module):
    """The features of a Dict observation's entries `keys`: the images of one height and width
    stacked as the channels of one CNN (an RGB image and its depth: early fusion, one forward
    pass), each scaled to [0, 1] by its space's high (uint8: 255) and made channel-first; then
    the vectors; concatenated. Takes one observation or a batch."""

    def __init__(self, space: Dict, keys: list[str]):
        super().__init__()
        self.image_keys = [key for key in keys if is_image(space[key])]
        self.vector_keys = [key for key in keys if not is_image(space[key])]
        groups: dict[tuple, list[str]] = {}
        for key in self.image_keys:
            groups.setdefault(space[key].shape[:2], []).append(key)
        self.groups = {"+".join(group): group for group in groups.values()}
        self.cnns = nn.ModuleDict({
            name: cnn(sum(space[key].shape[-1] for key in group))
            for name, group in self.groups.items()
        })  # fmt: skip
        self.scales = {key: 1.0 / float(np.max(space[key].high)) for key in self.image_keys}
        with torch.no_grad():
            sample = {key: torch.as_tensor(space[key].sample()) for key in keys}
            self.out_dim = self(sample).shape[-1]

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The features; also kept as `last_features` (for CNNActorCritic.predict_state)."""
        first = self.image_keys[0] if self.image_keys else self.vector_keys[0]
        batch_shape = obs[first].shape[:-3] if self.image_keys else obs[first].shape[:-1]
        features = []
        for name, group in self.groups.items():
            # Scaled before the permute: on the permuted view, the cast runs 10x slower.
            images = [
                obs[key].reshape(-1, *obs[key].shape[-3:]).float() * self.scales[key]
                for key in group
            ]
            stacked = images[0] if len(images) == 1 else torch.cat(images, dim=-1)
            features.append(self.cnns[name](stacked.permute(0, 3, 1, 2)))
        for key in self.vector_keys:
            features.append(obs[key].reshape(-1, obs[key].shape[-1]).float())
        self.last_features = torch.cat(features, dim=-1).reshape(*batch_shape, -1)
        return self.last_features


def orthogonal_init(ac: nn.Module) -> None:
    """CleanRL's and Stable-Baselines3's initialization: orthogonal weights, zero biases, gain
    sqrt(2) in hidden layers (convolutions included), 0.01 on the policy's output (the first
    actions stay near the mean of zero, so early exploration comes from the std alone) and 1 on
    the value's (and on an actor's state head, CNNActorCritic's: its output is a guess too)."""
    for net, output_gain in [(ac.pi, 0.01), (ac.v, 1.0)]:
        head = getattr(net, "state_head", None)
        layers = [
            m for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d) and m is not head
        ]
        for layer in layers + ([head] if head is not None else []):
            gain = output_gain if layer is layers[-1] else 1.0 if layer is head else np.sqrt(2)
            nn.init.orthogonal_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)


def count_vars(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def discount_cumsum(x: np.ndarray, discount: float) -> np.ndarray:
    """[x0, x1, x2] -> [x0 + d*x1 + d^2*x2, x1 + d*x2, x2], in float64.

    A loop from the end, y[t] = x[t] + d * y[t+1]: the same arithmetic, in the same order, as the
    scipy.signal.lfilter call of Spinning Up, without importing scipy.signal (over a second of
    every rank's start-up) for a few thousand additions per epoch.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    running = 0.0
    for t in range(len(x) - 1, -1, -1):
        running = x[t] + discount * running
        out[t] = running
    return out


class Actor(nn.Module):
    def _distribution(self, obs: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def _log_prob_from_distribution(self, pi: Distribution, act: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None):
        """The action distribution for `obs`, and the log-likelihood of `act` under it if given."""
        pi = self._distribution(obs)
        logp_a = None
        if act is not None:
            logp_a = self._log_prob_from_distribution(pi, act)
        return pi, logp_a


def with_encoder(encoder: DictEncoder | None, net: nn.Sequential) -> nn.Sequential:
    """`net` behind `encoder` (a Dict observation's features), or `net` alone for flat inputs."""
    return net if encoder is None else nn.Sequential(encoder, net)


class MLPCategoricalActor(Actor):
    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes, activation, encoder=None):
        super().__init__()
        self.logits_net = with_encoder(encoder, mlp([obs_dim, *hidden_sizes, act_dim], activation))

    def _distribution(self, obs):
        return Categorical(logits=self.logits_net(obs), validate_args=False)

    def _log_prob_from_distribution(self, pi, act):
        return pi.log_prob(act)

    def deterministic_action(self, obs):
        return self.logits_net(obs).argmax(dim=-1)


class MLPGaussianActor(Actor):
    def __init__(
        self, obs_dim: int, act_dim: int, hidden_sizes, activation, log_std_init=-0.5, encoder=None
    ):
        super().__init__()
        # A state-independent log std, learned. Spinning Up starts it at -0.5 (std 0.6, early
        # actions mostly inside a [-1, 1] box); CleanRL and Stable-Baselines3 at 0 (std 1).
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))
        self.mu_net = with_encoder(encoder, mlp([obs_dim, *hidden_sizes, act_dim], activation))

    def _distribution(self, obs):
        # No argument validation: it costs more than the forward pass at rollout batch sizes.
        return Normal(self.mu_net(obs), torch.exp(self.log_std), validate_args=False)

    def _log_prob_from_distribution(self, pi, act):
        return pi.log_prob(act).sum(axis=-1)  # independent dimensions: log-probs add up

    def deterministic_action(self, obs):
        return self.mu_net(obs)


class MLPCritic(nn.Module):
    def __init__(self, obs_dim: int, hidden_sizes, activation, encoder=None):
        super().__init__()
        self.v_net = with_encoder(encoder, mlp([obs_dim, *hidden_sizes, 1], activation))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.squeeze(self.v_net(obs), -1)  # V has shape (batch,), not (batch, 1)


def make_actor(
    owner: str, obs_dim: int, action_space: Space, hidden_sizes, activation, log_std_init,
    encoder: DictEncoder | None = None,
) -> Actor:  # fmt: skip
    """The policy for an action space: Gaussian for Box (over its entries, flattened: see
    env_action), categorical for Discrete; `owner` names the actor-critic in the error for any
    other space."""
    if isinstance(action_space, Box):
        act_dim = int(np.prod(action_space.shape))
        return MLPGaussianActor(obs_dim, act_dim, hidden_sizes, activation, log_std_init, encoder)
    if isinstance(action_space, Discrete):
        return MLPCategoricalActor(obs_dim, action_space.n, hidden_sizes, activation, encoder)
    raise ValueError(
        f"{owner} handles Box or Discrete action spaces, got {action_space}; "
        "wrap the environment so that its actions are one of these."
    )


def flat_action_shape(space: Space) -> tuple[int, ...]:
    """The shape of one action in the buffer: a Box's entries flat, a category a number."""
    return (int(np.prod(space.shape)),) if isinstance(space, Box) else ()


def env_action(act, space: Space):
    """The env's action for a policy's action (one, or a batch): a Gaussian's sample, flat as
    the buffer keeps it, shaped as the Box and clipped into it (as in Stable-Baselines3); a
    category shifted by the Discrete's start."""
    if isinstance(space, Box):
        act = np.reshape(act, (*np.shape(act)[:-1], *space.shape))
        return np.clip(act, space.low, space.high).astype(space.dtype)
    return act + space.start


class MLPActorCritic(nn.Module):
    """A policy `pi` (Gaussian for Box actions, categorical for Discrete ones), a value `v`, and
    the observation normalizer `obs_rms` (None when normalize_obs is False).

    `pi` and `v` take normalized observations, as the buffer stores them. `step(obs)` and
    `act(obs)` take RAW observations, as the env returns them (one, or a batch), and normalize
    them first: `step` returns numpy arrays `(act, val, logp)`, `act` only the actions, and
    `act(obs, deterministic=True)` the Gaussian mean (or the most likely category), which is what
    an evaluation or an exported policy runs. The Gaussian's actions are not clipped here: the
    env's bounds are the caller's (utils.test_policy.policy_function clips them).
    """

    def __init__(
        self,
        observation_space: Space,
        action_space: Space,
        hidden_sizes=(64, 64),
        activation=nn.Tanh,
        normalize_obs: bool = False,
        log_std_init: float = -0.5,
    ):
        super().__init__()
        if isinstance(observation_space, Dict):
            raise ValueError(
                "MLPActorCritic takes a flat Box observation space; for a Dict of images and "
                "vectors use core.CNNActorCritic (ppo()'s default for a Dict)."
            )
        obs_dim = observation_space.shape[0]
        self.pi = make_actor(type(self).__name__, obs_dim, action_space, hidden_sizes, activation,
                             log_std_init)  # fmt: skip
        self.v = MLPCritic(obs_dim, hidden_sizes, activation)
        self.obs_rms = RunningMeanStd(observation_space.shape) if normalize_obs else None

    def normalize(self, obs) -> np.ndarray:
        """Raw observations -> what `pi` and `v` take (float32; unchanged without a normalizer)."""
        if self.obs_rms is None:
            return np.asarray(obs, dtype=np.float32)
        return self.obs_rms.normalize(obs)

    @torch.no_grad()
    def step(self, obs, normalized: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(act, val, logp) for raw observations; `normalized=True` for ones that went through
        `normalize` already (the rollout normalizes once, for the networks and the buffer)."""
        obs = as_tensor(obs if normalized else self.normalize(obs))
        pi = self.pi._distribution(obs)
        act = pi.sample()
        logp_a = self.pi._log_prob_from_distribution(pi, act)
        val = self.v(obs)
        return act.numpy(), val.numpy(), logp_a.numpy()

    @torch.no_grad()
    def act(self, obs, deterministic: bool = False) -> np.ndarray:
        if deterministic:
            return self.pi.deterministic_action(as_tensor(self.normalize(obs))).numpy()
        return self.step(obs)[0]


class CNNActorCritic(MLPActorCritic):
    """MLPActorCritic for a Dict observation space of images and vectors: each network reads its
    entries through a DictEncoder (a CNN per image), then its MLP. The actor reads every entry
    but CRITIC_KEY; the critic reads CRITIC_KEY alone when there is one (an asymmetric critic,
    Pinto et al. 2018), else what the actor reads, through its own CNN (pi and v share nothing).
    `obs_rms` normalizes the vector entries only; images reach the CNN as they come."""

    def __init__(
        self,
        observation_space: Dict,
        action_space: Space,
        hidden_sizes=(64, 64),
        activation=nn.Tanh,
        normalize_obs: bool = False,
        log_std_init: float = -0.5,
    ):
        nn.Module.__init__(self)
        actor_keys = [key for key in observation_space.spaces if key != CRITIC_KEY]
        critic_keys = [CRITIC_KEY] if CRITIC_KEY in observation_space.spaces else actor_keys
        self.critic_dim = observation_space[CRITIC_KEY].shape[0] if critic_keys != actor_keys else 0
        pi_encoder = DictEncoder(observation_space, actor_keys)
        v_encoder = DictEncoder(observation_space, critic_keys)
        self.pi = make_actor(type(self).__name__, pi_encoder.out_dim, action_space, hidden_sizes,
                             activation, log_std_init, pi_encoder)  # fmt: skip
        self.v = MLPCritic(v_encoder.out_dim, hidden_sizes, activation, encoder=v_encoder)
        if self.critic_dim:
            # Part of the actor (its optimizer steps it), used by ppo()'s state_loss_coef only.
            self.pi.state_head = nn.Linear(pi_encoder.out_dim, self.critic_dim)
        self.obs_rms = DictRunningMeanStd(observation_space) if normalize_obs else None

    def predict_state(self) -> torch.Tensor:
        """The actor's guess of the privileged state (CRITIC_KEY, as normalized) for the batch of
        its last forward pass: a linear map of its encoder's features, not computed again."""
        return self.pi.state_head(self.actor_encoder.last_features)

    @property
    def actor_encoder(self) -> DictEncoder:
        return (self.pi.mu_net if hasattr(self.pi, "mu_net") else self.pi.logits_net)[0]

    def hidden_state_entries(self, obs: dict) -> torch.Tensor:
        """The entries of the privileged state that no vector entry of the actor's observation
        repeats (equal over the whole of `obs`, a batch), found on the first call."""
        if getattr(self, "_hidden", None) is None:
            state = obs[CRITIC_KEY].reshape(-1, self.critic_dim)
            seen = [obs[key].reshape(len(state), -1) for key in self.actor_encoder.vector_keys]
            seen = torch.cat(seen, dim=-1) if seen else state[:, :0]
            repeated = (state[:, :, None] == seen[:, None, :]).all(dim=0).any(dim=-1)
            self._hidden = torch.nonzero(~repeated).reshape(-1)
        return self._hidden

    def normalize(self, obs: dict) -> dict:
        if self.obs_rms is None:
            return {
                k: v if v.dtype in IMAGE_DTYPES else np.asarray(v, np.float32)
                for k, v in obs.items()
            }
        return self.obs_rms.normalize(obs)


def default_actor_critic(observation_space: Space) -> type[MLPActorCritic]:
    """ppo()'s actor-critic for an observation space: a CNN one for a Dict, else the MLP."""
    return CNNActorCritic if isinstance(observation_space, Dict) else MLPActorCritic


def check_actor_critic(ac) -> None:
    """ppo() needs pi and v to share no parameter (module doc of ppo.py: one backward pass)."""
    shared = {id(p) for p in ac.pi.parameters()} & {id(p) for p in ac.v.parameters()}
    if shared:
        raise ValueError(
            f"the actor_critic's pi and v share {len(shared)} parameter tensors; ppo() steps "
            "them from one backward pass of the summed losses, each with its own optimizer, "
            "which needs two separate networks: give pi and v their own layers."
        )


def check_finite(name: str, value) -> None:
    """Stop at the first NaN or inf, before it reaches the weights or a checkpoint."""
    if isinstance(value, dict):  # a Dict observation: its images are integers, always finite
        finite = all(np.isfinite(v).all() for v in value.values() if v.dtype not in IMAGE_DTYPES)
    elif isinstance(value, np.ndarray):
        finite = np.isfinite(value).all()
    else:  # a float64 sum is finite exactly when every element is: one op at every minibatch step
        finite = math.isfinite(value.sum(dtype=torch.float64).item())
    if not finite:
        raise FloatingPointError(f"NaN or inf in {name}")


def minibatches_of(data: dict, passes: int, minibatches: int):
    """`passes` passes over the rank's data, each cut into `minibatches` minibatches of shuffled
    transitions (each transition once per pass). One minibatch is the whole batch, in order:
    shuffling would change nothing but the rounding (Spinning Up's update stays bit for bit)."""
    n = batch_size(data["obs"])
    for _ in range(passes):
        if minibatches == 1:
            yield data
            continue
        perm = torch.randperm(n)  # one shuffle per pass; its minibatches are slices of it
        for indices in torch.tensor_split(perm, minibatches):
            yield {k: take(v, indices) for k, v in data.items()}


def clip_norm_(grad: torch.Tensor, max_norm: float) -> None:
    """Scale a network's flat gradient down to norm max_norm if it is longer (the rule of
    torch's clip_grad_norm_, in two ops on one tensor instead of a loop over the parameters)."""
    norm = torch.linalg.vector_norm(grad)
    grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))


class PPOBuffer:
    """Experience of K environments over T steps, with GAE-lambda advantages and the value
    function's targets: the lambda-returns, advantage + V(s_t) (CleanRL, Stable-Baselines3), or
    with `lambda_returns=False` the discounted rewards-to-go (Spinning Up).

    Each environment's trajectory is a column. `finish_path(k, last_val)` closes the running
    path of environment k: `last_val` is 0 when the episode truly terminated and V(s_T) when it
    was cut off (time limit or end of epoch), so that the cut-off does not count as a terminal
    state.
    """

    def __init__(
        self,
        obs_dim: int | Box | Dict,
        act_dim: int | tuple | Space | None,
        size: int,
        num_envs: int = 1,
        gamma: float = 0.99,
        lam: float = 0.95,
        lambda_returns: bool = True,
    ):
        if isinstance(act_dim, Space):
            act_dim = flat_action_shape(act_dim)
        if isinstance(obs_dim, Box):
            obs_dim = obs_dim.shape[0]
        if isinstance(obs_dim, Dict):
            # One array per entry: images keep their dtype, vectors are float32.
            self.obs_buf = {
                key: np.zeros(
                    (size, num_envs, *entry.shape), entry.dtype if is_image(entry) else np.float32
                )
                for key, entry in obs_dim.spaces.items()
            }
        else:
            self.obs_buf = np.zeros((size, num_envs, obs_dim), dtype=np.float32)
        self.act_buf = np.zeros((size, num_envs, *np.atleast_1d(act_dim or ())), dtype=np.float32)
        self.rew_buf = np.zeros((size, num_envs), dtype=np.float32)
        self.val_buf = np.zeros((size, num_envs), dtype=np.float32)
        self.logp_buf = np.zeros((size, num_envs), dtype=np.float32)
        self.adv_buf = np.zeros((size, num_envs), dtype=np.float32)
        self.ret_buf = np.zeros((size, num_envs), dtype=np.float32)
        self.gamma, self.lam, self.lambda_returns = gamma, lam, lambda_returns
        self.ptr, self.max_size = 0, size
        self.path_start_idx = np.zeros(num_envs, dtype=np.int64)

    def store(self, obs, act, rew, val, logp) -> None:
        """Append one step of all K environments (arrays with leading dimension K)."""
        assert self.ptr < self.max_size, "PPOBuffer is full: call get() at the end of each epoch"
        if isinstance(obs, dict):
            for key, value in obs.items():
                self.obs_buf[key][self.ptr] = value
        else:
            self.obs_buf[self.ptr] = obs
        self.act_buf[self.ptr] = np.reshape(act, self.act_buf.shape[1:])
        self.rew_buf[self.ptr] = rew
        self.val_buf[self.ptr] = val
        self.logp_buf[self.ptr] = logp
        self.ptr += 1

    def finish_path(self, env_index: int = 0, last_val: float = 0.0) -> None:
        path = slice(self.path_start_idx[env_index], self.ptr)
        rews = np.append(self.rew_buf[path, env_index], last_val)
        vals = np.append(self.val_buf[path, env_index], last_val)

        # Overflow becomes inf here, which ppo() reports as a clear error before the update.
        with np.errstate(over="ignore", invalid="ignore"):
            deltas = rews[:-1] + self.gamma * vals[1:] - vals[:-1]
            self.adv_buf[path, env_index] = discount_cumsum(deltas, self.gamma * self.lam)
            if self.lambda_returns:
                # Bootstrapped from V at every step, weighted by lambda: it varies less than
                # the rewards-to-go, which bootstrap only from last_val.
                self.ret_buf[path, env_index] = self.adv_buf[path, env_index] + vals[:-1]
            else:
                self.ret_buf[path, env_index] = discount_cumsum(rews, self.gamma)[:-1]

        self.path_start_idx[env_index] = self.ptr

    def get(self) -> dict[str, np.ndarray]:
        """All data of the epoch, flattened to (T * K, ...); the advantages as computed, not yet
        normalized (ppo.py normalizes them with statistics over all ranks)."""
        assert self.ptr == self.max_size, "PPOBuffer.get() before the buffer is full"
        assert (self.path_start_idx == self.ptr).all(), "finish_path() every env before get()"
        self.ptr = 0
        self.path_start_idx[:] = 0
        data = dict(
            obs=self.obs_buf,
            act=self.act_buf,
            ret=self.ret_buf,
            adv=self.adv_buf,
            logp=self.logp_buf,
        )
        return {k: map_obs(lambda v: v.reshape(-1, *v.shape[2:]), v) for k, v in data.items()}


class RunningMeanStd(nn.Module):
    """Running mean and variance of observations, kept as buffers so that they travel in the
    actor-critic's checkpoint and in the exported policy.

    Each rank `record`s the observations it sees; once per epoch ppo.py takes them
    (`take_recorded`), sums their moments over all ranks and folds the totals in with `update`,
    so that every rank normalizes with identical numbers.
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(0.0, dtype=torch.float64))
        self.clip, self.epsilon = clip, epsilon
        self._recorded: list[np.ndarray] = []

    def record(self, obs: np.ndarray) -> None:
        # A copy: the caller may change its array in place after the call.
        self._recorded.append(np.array(obs, dtype=np.float64).reshape(-1, *self.mean.shape))

    def take_recorded(self) -> np.ndarray:
        """The observations recorded since the last call, as one (n, *shape) float64 array."""
        shape = self.mean.shape
        batch = np.concatenate(self._recorded) if self._recorded else np.zeros((0, *shape))
        self._recorded = []
        return batch

    def update(self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: float) -> None:
        """Fold the moments of `batch_count` new observations into the statistics (Chan et al.'s
        parallel update of mean and variance)."""
        count, n = self.count.item(), batch_count
        total = count + n
        delta = batch_mean - self.mean.numpy()
        new_mean = self.mean.numpy() + delta * n / total
        m2 = self.var.numpy() * count + batch_var * n + delta**2 * count * n / total
        self.mean.copy_(torch.as_tensor(new_mean))
        self.var.copy_(torch.as_tensor(m2 / total))
        self.count.fill_(total)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """(obs - mean) / std, clipped to [-clip, clip], in numpy: no tensor round trip per step."""
        std = np.sqrt(self.var.numpy() + self.epsilon)
        normalized = np.clip((obs - self.mean.numpy()) / std, -self.clip, self.clip)
        return normalized.astype(np.float32)


class RewardScaler:
    """Rewards divided by the running std of the discounted return, and clipped to [-clip, clip]
    (Stable-Baselines3's VecNormalize(norm_reward=True), CleanRL's NormalizeReward): the value
    function then learns targets of order 1 whatever the env's reward scale.

    `scale` keeps each env's discounted return and records it; ppo.py folds the records of all
    ranks into `ret_rms` once per epoch (as for the observations), so within an epoch every rank
    scales with the same, fixed number. EpRet and evaluation report the env's own rewards.
    """

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0):
        self.ret_rms = RunningMeanStd(())
        self.gamma, self.clip = gamma, clip
        self.returns = np.zeros(num_envs)

    def scale(self, rew: np.ndarray, episode_over: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rew
        self.ret_rms.record(self.returns)
        self.returns[episode_over] = 0.0
        std = np.sqrt(self.ret_rms.var.item() + self.ret_rms.epsilon)
        return np.clip(rew / std, -self.clip, self.clip).astype(np.float32)


class DictRunningMeanStd(RunningMeanStd):
    """RunningMeanStd of a Dict space's vector entries, concatenated in the space's key order;
    images pass through untouched. `record` takes a batch with every vector entry; `normalize`
    normalizes the entries present (a deployed actor has no CRITIC_KEY)."""

    def __init__(self, space: Dict, clip: float = 10.0, epsilon: float = 1e-8):
        slices, start = {}, 0
        for key, entry in space.spaces.items():
            if not is_image(entry):
                size = int(np.prod(entry.shape))
                slices[key] = slice(start, start + size)
                start += size
        super().__init__((start,), clip, epsilon)
        self.slices = slices

    def record(self, obs: dict) -> None:
        batch = [np.reshape(obs[key], (-1, s.stop - s.start)) for key, s in self.slices.items()]
        super().record(np.concatenate(batch, axis=-1))

    def normalize(self, obs: dict) -> dict:
        mean, std = self.mean.numpy(), np.sqrt(self.var.numpy() + self.epsilon)
        normalized = dict(obs)
        for key, s in self.slices.items():
            if key in obs:
                value = np.clip((obs[key] - mean[s]) / std[s], -self.clip, self.clip)
                normalized[key] = value.astype(np.float32)
        return normalized
