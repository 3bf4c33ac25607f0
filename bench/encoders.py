"""Where is the target? The pixel actor's CNN (core.cnn: a spatial softmax) against a CNN that
flattens its last feature map, on the task a reach needs from the image, learned supervised.

Each arm's camera (ArmReach-v1, obs_mode="pixels", its defaults) records `--images` frames of
random-action episodes; each CNN, with the same head (64 tanh units, then 3 numbers), learns the
target's position from them (Adam, lr 3e-4, minibatches of 125, the targets normalized), and the
table gives the root-mean-square error per axis on `--test` frames it never trained on, after
each of `--marks` steps. The flattening CNN is the Nature DQN network at half width (16, 32, 32
filters; kernels 8, 4, 3; strides 4, 2, 1), what an Atari policy would use. The third is
core.cnn with 8 x 8 patches instead of 4 x 4: a quarter of the positions for its convolutions,
the cheapest way to make the pixel policy's forward pass faster. Beside each error, the CNN's
forward pass in microseconds per image, at the batch of one rollout step (a rank's share of
ppo()'s default num_envs in a 2-rank run) on one thread, as one rank runs it.

    python bench/encoders.py [--arms kuka_iiwa ...] [--images 5000] [--marks 1000 3000]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import core  # noqa: E402
import envs  # noqa: E402, F401
import ppo  # noqa: E402
from bench.common import add_out_argument, report  # noqa: E402
from envs.robots import PRESETS  # noqa: E402


def flattening_cnn(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, 16, 8, stride=4), nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
        nn.Flatten(),
    )  # fmt: skip


def coarse_cnn(channels: int) -> nn.Sequential:
    cnn = core.cnn(channels)
    cnn[0] = nn.Conv2d(channels, 16, 8, stride=8)
    return cnn


ENCODERS = {
    "spatial softmax (core.cnn)": core.cnn,
    "flatten (Nature DQN, half width)": flattening_cnn,
    "spatial softmax, 8 x 8 patches": coarse_cnn,
}
BATCH = inspect.signature(ppo.ppo).parameters["num_envs"].default // 2  # a rank's, of 2


def record(robot: str, frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`frames` camera images of random-action episodes, and the target's position in each."""
    env = gym.make("ArmReach-v1", robot=robot, obs_mode="pixels")
    rng = np.random.default_rng(seed)
    images, targets = [], []
    obs, info = env.reset(seed=seed)
    while len(images) < frames:
        obs, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        images.append(obs["pixels"])
        targets.append(env.unwrapped.target_pos.copy())
        if terminated or truncated:
            obs, info = env.reset()
    env.close()
    return torch.as_tensor(np.stack(images)), torch.as_tensor(
        np.stack(targets), dtype=torch.float32
    )


def errors(make_cnn, images, targets, train: int, marks: list[int], seed: int) -> list[list]:
    """Train on the first `train` frames; the test RMS error per axis (cm) at every mark."""
    torch.manual_seed(seed)
    mean, std = targets[:train].mean(0), targets[:train].std(0)
    scaled = (targets - mean) / std
    pixels = images.permute(0, 3, 1, 2)
    cnn = make_cnn(pixels.shape[1])
    with torch.no_grad():
        width = cnn(pixels[:2].float() / 255).shape[1]
    net = nn.Sequential(cnn, nn.Linear(width, 64), nn.Tanh(), nn.Linear(64, 3))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-4)
    results, start = [], time.perf_counter()
    for step in range(1, max(marks) + 1):
        batch = torch.randint(0, train, (125,))
        loss = ((net(pixels[batch].float() / 255) - scaled[batch]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in marks:
            with torch.no_grad():
                error = (net(pixels[train:].float() / 255) - scaled[train:]) * std
            rms = (error**2).mean(0).sqrt() * 100
            results.append([step, *rms.tolist(), time.perf_counter() - start])
    return results


def forward_us(make_cnn, images, repeats: int = 200) -> float:
    """Microseconds per image of the CNN's forward pass (from uint8, as the DictEncoder feeds it)
    on batches of BATCH images."""
    cnn = make_cnn(images.shape[-1])
    batch = images[:BATCH]
    with torch.no_grad():
        cnn((batch.float() / 255).permute(0, 3, 1, 2))  # first call: allocations
        start = time.perf_counter()
        for _ in range(repeats):
            cnn((batch.float() / 255).permute(0, 3, 1, 2))
    return 1e6 * (time.perf_counter() - start) / (repeats * len(batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    parser.add_argument("--images", type=int, default=5000, help="training frames per arm")
    parser.add_argument("--test", type=int, default=1000, help="test frames per arm")
    parser.add_argument("--marks", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--seed", type=int, default=0)
    add_out_argument(parser, "encoders")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as one rank of ppo()
    rows, data = [], {}
    for robot in args.arms:
        images, targets = record(robot, args.images + args.test, args.seed)
        for name, make_cnn in ENCODERS.items():
            result = errors(make_cnn, images, targets, args.images, args.marks, args.seed)
            us = forward_us(make_cnn, images)
            data[f"{robot}, {name}"] = dict(errors=result, forward_us=us)
            for step, x, y, z, seconds in result:
                rows.append([robot, name, step, f"{x:.1f}", f"{y:.1f}", f"{z:.1f}",
                             f"{seconds:.0f}", f"{us:.0f}"])  # fmt: skip
    report(
        args.out,
        title=f"The target's position from the camera image, learned supervised: {args.images} "
        f"training and {args.test} test frames per arm",
        columns=[
            "arm",
            "CNN",
            "steps",
            "error x (cm)",
            "error y (cm)",
            "error z (cm)",
            "seconds",
            f"forward (us per image, batch {BATCH})",
        ],  # fmt: skip
        rows=rows,
        notes="Root-mean-square error per axis on the test frames; z is the height.",
        data=data,
    )


if __name__ == "__main__":
    main()
