"""What ArmReach-v1's pixel camera shows: per arm, the nominal scene, then episodes of the
randomized one, each colour image above its depth (near: light, far: dark), scaled up.

    python examples/camera_views.py [--robots kuka_iiwa ...] [--episodes 5] [--out views.png]
    python examples/camera_views.py --env_kwargs camera_position=[1.2,-0.9,1.1]  # your camera

Use it to check a camera of your own (docs/envs.md, "Pixels"): every keyword of --env_kwargs
goes to gym.make("ArmReach-v1", obs_mode="pixels", ...). docs/img/camera.png is its output with
the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import envs  # noqa: E402, F401  (registers ArmReach-v1)
from envs.robots import PRESETS  # noqa: E402
from utils.cli import key_value  # noqa: E402

SCALE = 3  # each pixel drawn as SCALE x SCALE


def views(robot: str, episodes: int, env_kwargs: dict) -> np.ndarray:
    """One row per arm: [nominal, episode 0, ...], each colour over depth."""
    tiles = []
    for randomize, seeds in ((False, [0]), (True, range(episodes))):
        env = gym.make("ArmReach-v1", robot=robot, obs_mode="pixels",
                       **dict(env_kwargs, randomize=randomize))  # fmt: skip
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            depth = obs["depth"][..., 0].astype(np.float64)
            shade = 255 * (1 - depth / env.observation_space["depth"].high.max())
            grey = np.repeat(shade.astype(np.uint8)[..., None], 3, axis=-1)
            tiles.append(np.concatenate([obs["pixels"], grey], axis=0))
        env.close()
    row = np.concatenate(tiles, axis=1)
    return row.repeat(SCALE, axis=0).repeat(SCALE, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--robots", nargs="+", default=sorted(PRESETS))
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("views.png"))
    parser.add_argument("--env_kwargs", nargs="*", type=key_value, default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    rows = [views(robot, args.episodes, dict(args.env_kwargs)) for robot in args.robots]
    imageio.imwrite(args.out, np.concatenate(rows, axis=0))
    print(f"wrote {args.out}: per arm, the nominal scene, then {args.episodes} randomized episodes")


if __name__ == "__main__":
    main()
