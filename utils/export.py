"""Export a run's deterministic policy for deployment: an ONNX file that runs with onnxruntime.

    python -m utils.export RUN          # writes RUN/policy.onnx; RUN: a run directory

and then, on the robot's computer, with numpy and onnxruntime only (no torch, no repository):

    session = onnxruntime.InferenceSession("policy.onnx")
    act = session.run(None, {"obs": obs.reshape(1, -1).astype(np.float32)})[0][0]

One graph maps a batch of raw observations, input "obs" (float32, [batch, obs_dim], any batch
size), to output "action": the run's observation normalization (in float64, as get_action does
it), the actor's mean, and the clip into the Box bounds (for Discrete: the most likely action,
int64). For a Dict observation space the graph has one input per entry the actor reads, named
by its key, in the space's order: images as they come (uint8; uint16 for a depth) [batch,
height, width, channels], vectors as float32 [batch, size] (ArmReach-v1's pixels: "depth",
"pixels" and "proprio"; a privileged critic's input is not among them). It returns what
utils.test_policy's get_action returns, to float32 rounding.
The model's metadata (session.get_modelmeta().custom_metadata_map) holds, each as a JSON text:
env_id, env_kwargs, observation_space, action_space, normalize_obs and run_dir, so that the env
can be rebuilt from the file alone (see examples/deploy_onnx.py).

`--out policy.pt` still writes the TorchScript module of earlier releases, for one more release:
torch 2.13 deprecates torch.jit.save and torch.jit.load, and ONNX is the deployment format.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from gymnasium.spaces import Box, Dict, Discrete

from utils.cli import DefaultsHelpFormatter, one_line, one_line_errors
from utils.logx import warnings_as_notes
from utils.test_policy import load_actor_critic

FORMATS = {".onnx": "ONNX, for onnxruntime", ".pt": "TorchScript, deprecated"}
INPUT_NAME, OUTPUT_NAME = "obs", "action"
# TorchScript only: the metadata travels as an extra file inside the .pt archive.
METADATA_FILE = "policy.json"
TORCHSCRIPT_DEPRECATED = (
    "TorchScript (.pt) is deprecated by torch 2.13 and leaves this exporter in the next release; "
    "export to .onnx, the deployment format (runs with onnxruntime, without torch)."
)


class DeterministicPolicy(nn.Module):
    """Raw observation -> deterministic action: normalize, run the actor, clip (or argmax).

    The normalization repeats RunningMeanStd's arithmetic (in float64, clipped to +-clip), so that
    the network sees exactly the input get_action gives it; only the network's float32 sums may
    round differently.
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
        # A Box of several dimensions: its bounds flat, as the actor's output (the metadata keeps
        # the shape).
        low = torch.zeros(1) if self.discrete else torch.as_tensor(action_space.low).reshape(-1)
        high = torch.zeros(1) if self.discrete else torch.as_tensor(action_space.high).reshape(-1)
        self.start = int(action_space.start) if self.discrete else 0
        self.register_buffer("act_low", low.float())
        self.register_buffer("act_high", high.float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.act(self.normalized(obs.to(torch.float32), self.obs_mean, self.obs_std))

    def act(self, obs) -> torch.Tensor:
        out = self.net(obs)
        if self.discrete:
            return out.argmax(dim=-1) + self.start
        return torch.clamp(out, self.act_low, self.act_high)

    def normalized(self, obs: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        if not self.normalize:
            return obs
        obs = (obs.to(torch.float64) - mean) / std
        return torch.clamp(obs, -self.obs_clip, self.obs_clip).to(torch.float32)


class DictDeterministicPolicy(DeterministicPolicy):
    """DeterministicPolicy for a Dict observation: one input per entry the actor reads, in the
    order of `keys`; images go in as they come (the CNN scales them), each vector is normalized
    with its own slice of the statistics. ONNX only (TorchScript takes no *inputs)."""

    def __init__(self, ac, action_space: Box | Discrete, keys: list[str]):
        super().__init__(ac, action_space)
        self.keys = keys
        self.slices = {} if ac.obs_rms is None else dict(ac.obs_rms.slices)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        obs = dict(zip(self.keys, inputs, strict=True))
        for key, entry in self.slices.items():
            if key in obs:
                mean, std = self.obs_mean[entry], self.obs_std[entry]
                obs[key] = self.normalized(obs[key].to(torch.float32), mean, std)
        return self.act(obs)


def space_description(space) -> dict:
    """A JSON description of a Box, Discrete or Dict space, for the policy's metadata."""
    if isinstance(space, Discrete):
        return dict(type="Discrete", n=int(space.n), start=int(space.start))
    if isinstance(space, Dict):
        return dict(type="Dict", spaces={k: space_description(v) for k, v in space.spaces.items()})
    return dict(
        type="Box",
        shape=list(space.shape),
        low=space.low.tolist(),
        high=space.high.tolist(),
        dtype=str(space.dtype),
    )


def check_format(out: str | Path) -> str:
    """The suffix of `out` if it is a format we write, else ValueError saying which are."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        choices = " or ".join(f"{s} ({what})" for s, what in FORMATS.items())
        raise ValueError(f"cannot export to {out}: the file name must end in {choices}.")
    return suffix


def write_onnx(policy: DeterministicPolicy, obs: int | Dict, out: Path, metadata: dict) -> None:
    """Export `policy` with a dynamic batch dimension and write it, metadata included, to out.
    `obs`: the observation's length, or the Dict space of a DictDeterministicPolicy."""
    import onnx  # only the ONNX path needs it

    # torch.export specializes a dimension of size 1, so the example batch has two rows.
    if isinstance(policy, DictDeterministicPolicy):
        names = policy.keys
        example = tuple(torch.as_tensor(np.stack([obs[k].sample()] * 2)) for k in names)
        dynamic = (tuple({0: torch.export.Dim("batch")} for _ in names),)  # forward(*inputs)
    else:
        names, example = [INPUT_NAME], (torch.zeros(2, obs),)
        dynamic = ({0: torch.export.Dim("batch")},)
    with warnings.catch_warnings():
        # torch's and onnxscript's notes about their own internals, not about this policy;
        # an export that fails still raises.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # Every input's batch dimension is the one Dim "batch": torch notes they agree.
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used")
        # The CNN keeps its features for the training's state loss; not part of the graph.
        warnings.filterwarnings("ignore", message=".*last_features was assigned during export")
        onnx_logger = logging.getLogger("torch.onnx")
        level = onnx_logger.level
        onnx_logger.setLevel(logging.ERROR)  # "torchvision is not installed", per operator
        try:
            program = torch.onnx.export(
                policy,
                example,
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_shapes=dynamic,
                dynamo=True,
                verbose=False,
            )
        finally:
            onnx_logger.setLevel(level)
    model = program.model_proto
    onnx.helper.set_model_props(model, {key: json.dumps(value) for key, value in metadata.items()})
    onnx.checker.check_model(model, full_check=True)
    # Written beside and renamed: a robot never loads a half-written policy.
    partial = out.with_name(out.name + ".partial")
    onnx.save(model, partial)
    os.replace(partial, out)


def write_torchscript(policy: DeterministicPolicy, out: Path, metadata: dict) -> None:
    warnings.warn(TORCHSCRIPT_DEPRECATED, FutureWarning, stacklevel=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # said once, above
        # Scripted, not traced: no example input fixes the batch shape or the branches.
        module = torch.jit.script(policy)
        torch.jit.save(module, str(out), _extra_files={METADATA_FILE: json.dumps(metadata)})


def export_policy(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the deterministic policy of a run for deployment; return its path.

    Args:
        run_dir: A run directory (config.json and checkpoint.pt, as ppo.py writes them).

        out: The file to write, its format chosen by the suffix: .onnx (ONNX: input "obs",
            float32 [batch, obs_dim], or one input per Dict entry; output "action"; metadata
            in the model's metadata_props)
            or .pt (TorchScript, deprecated: a FutureWarning says so). Its folder is created if
            needed. None: policy.onnx in the run directory, beside the checkpoint it came from.

    Returns:
        The path written.

    Raises:
        ValueError: for another suffix, and as utils.test_policy.load_actor_critic for a missing
            or unreadable run.
    """
    out = Path(run_dir) / "policy.onnx" if out is None else Path(out)
    suffix = check_format(out)
    ac, env, config = load_actor_critic(run_dir)
    env.close()
    if not isinstance(env.action_space, Box | Discrete):
        raise ValueError(f"cannot export a policy for the action space {env.action_space}.")
    space = env.observation_space
    if isinstance(space, Dict):
        if suffix == ".pt":
            raise ValueError(
                f"cannot export {run_dir} to {out}: a Dict observation exports to .onnx"
            )
        policy = DictDeterministicPolicy(ac, env.action_space, list(space.spaces))
    else:
        policy = DeterministicPolicy(ac, env.action_space)
    policy = policy.eval().requires_grad_(False)
    metadata = dict(
        env_id=config.get("env_id"),
        env_kwargs=config.get("env_kwargs") or {},
        observation_space=space_description(env.observation_space),
        action_space=space_description(env.action_space),
        normalize_obs=ac.obs_rms is not None,
        run_dir=str(Path(run_dir).resolve()),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".onnx":
        write_onnx(policy, space if isinstance(space, Dict) else space.shape[0], out, metadata)
    else:
        write_torchscript(policy, out, metadata)
    return out


def onnx_inputs(path: Path) -> list[str]:
    import onnx

    return [i.name for i in onnx.load(path, load_external_data=False).graph.input]


USAGE = {
    ".onnx": "onnxruntime.InferenceSession({out!r}).run(None, {{'obs': obs}}) -> [action]",
    ".pt": "torch.jit.load({out!r})(obs) -> action",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m utils.export",
        description="Export a run's deterministic policy (normalization and action clip "
        "included) as ONNX, to run with onnxruntime where torch is not installed.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("run_dir", help="A run directory (config.json and checkpoint.pt).")
    parser.add_argument(
        "--out",
        default=None,
        help="The file to write: .onnx (ONNX), or .pt (TorchScript, deprecated); "
        "default: RUN_DIR/policy.onnx.",
    )
    one_line_errors(parser)
    args = parser.parse_args(argv)
    warnings_as_notes(parser.prog)
    try:
        out = export_policy(args.run_dir, args.out)
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {one_line(e)}\n")
    usage = USAGE[out.suffix.lower()].format(out=str(out))
    if out.suffix.lower() == ".onnx" and (inputs := onnx_inputs(out)) != [INPUT_NAME]:
        usage = usage.replace(
            "{'obs': obs}", "{" + ", ".join(f"{k!r}: obs[{k!r}]" for k in inputs) + "}"
        )
    print(f"Wrote {out}: {usage}")


if __name__ == "__main__":
    main(sys.argv[1:])
