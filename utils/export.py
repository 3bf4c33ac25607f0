"""Export a run's deterministic policy as a TorchScript file that needs only torch to run.

    python -m utils.export data/ppo/ppo_s0 --out policy.pt

and then, anywhere, without this repository:

    policy = torch.jit.load("policy.pt")
    act = policy(torch.as_tensor(obs, dtype=torch.float32))   # (obs_dim,) or (batch, obs_dim)

The module holds the observation normalizer, the actor's network and the action bounds: it maps
a raw observation to the Gaussian mean clipped into the Box bounds (or to the most likely action,
an int64, for Discrete), exactly what utils.test_policy's get_action returns. The run's env_id and
spaces travel with it as an extra file, "policy.json" (torch.jit.load(..., _extra_files=...)).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn
from gymnasium.spaces import Box, Discrete

from utils.test_policy import load_actor_critic

METADATA_FILE = "policy.json"


class DeterministicPolicy(nn.Module):
    """Raw observation -> deterministic action: normalize, run the actor, clip (or argmax).

    The normalization repeats RunningMeanStd's arithmetic (in float64, clipped to +-clip), so that
    the exported actions equal the ones get_action computes, not merely come close.
    """

    def __init__(self, ac, action_space: Box | Discrete):
        super().__init__()
        obs_rms = ac.obs_rms
        self.normalize = obs_rms is not None
        if obs_rms is not None:
            mean = obs_rms.mean.detach().clone()
            std = torch.sqrt(obs_rms.var.detach() + obs_rms.epsilon)
            self.obs_clip = float(obs_rms.clip)
        else:  # unused, but TorchScript wants every attribute to exist with one type
            mean = std = torch.zeros(1, dtype=torch.float64)
            self.obs_clip = 0.0
        self.register_buffer("obs_mean", mean)
        self.register_buffer("obs_std", std)
        self.discrete = isinstance(action_space, Discrete)
        self.net = copy.deepcopy(ac.pi.logits_net if self.discrete else ac.pi.mu_net)
        for layer in self.net.modules():
            # TorchScript takes ints as constants, not numpy ints (Discrete(n).n is one).
            if isinstance(layer, nn.Linear):
                layer.in_features, layer.out_features = (
                    int(layer.in_features),
                    int(layer.out_features),
                )
        low = torch.zeros(1) if self.discrete else torch.as_tensor(action_space.low)
        high = torch.zeros(1) if self.discrete else torch.as_tensor(action_space.high)
        self.register_buffer("act_low", low.float())
        self.register_buffer("act_high", high.float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.to(torch.float32)
        if self.normalize:
            obs = (obs.to(torch.float64) - self.obs_mean) / self.obs_std
            obs = torch.clamp(obs, -self.obs_clip, self.obs_clip).to(torch.float32)
        out = self.net(obs)
        if self.discrete:
            return out.argmax(dim=-1)
        return torch.clamp(out, self.act_low, self.act_high)


def space_description(space) -> dict:
    """A JSON description of a Box or Discrete space, for the metadata next to the module."""
    if isinstance(space, Discrete):
        return dict(type="Discrete", n=int(space.n))
    return dict(
        type="Box",
        shape=list(space.shape),
        low=space.low.tolist(),
        high=space.high.tolist(),
        dtype=str(space.dtype),
    )


def export_policy(run_dir: str | Path, out: str | Path = "policy.pt") -> Path:
    """Write the deterministic policy of a run as a TorchScript file; return its path.

    Args:
        run_dir: A run directory (config.json and checkpoint.pt, as ppo.py writes them).

        out: The file to write (its folder is created if needed).

    Returns:
        The path written. torch.jit.load(out) gives a module mapping a float32 tensor of raw
        observations, shape (obs_dim,) or (batch, obs_dim), to deterministic actions.

    Raises:
        ValueError: as utils.test_policy.load_checkpoint, for a missing or
            unreadable run.
    """
    ac, env, config = load_actor_critic(run_dir)
    env.close()
    if not isinstance(env.action_space, Box | Discrete):
        raise ValueError(f"cannot export a policy for the action space {env.action_space}.")
    # Scripted, not traced: no example input fixes the batch shape or the branches.
    policy = DeterministicPolicy(ac, env.action_space).eval().requires_grad_(False)
    module = torch.jit.script(policy)
    metadata = dict(
        env_id=config.get("env_id"),
        run_dir=str(Path(run_dir).resolve()),
        observation_space=space_description(env.observation_space),
        action_space=space_description(env.action_space),
        normalize_obs=ac.obs_rms is not None,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(module, str(out), _extra_files={METADATA_FILE: json.dumps(metadata)})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m utils.export",
        description="Export a run's deterministic policy (normalization included) as TorchScript.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("run_dir", help="A run directory (config.json and checkpoint.pt).")
    parser.add_argument("--out", default="policy.pt", help="The TorchScript file to write.")
    args = parser.parse_args(argv)
    try:
        out = export_policy(args.run_dir, args.out)
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    print(f"Wrote {out}: torch.jit.load({str(out)!r})(obs) -> deterministic action")


if __name__ == "__main__":
    main(sys.argv[1:])
