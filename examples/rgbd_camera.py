"""The frame pipeline a real RGB-D camera needs before a pixel policy trained here can read it.

    python -m utils.export RUN      # RUN: a run of obs_mode="pixels"; writes RUN/policy.onnx
    python examples/rgbd_camera.py RUN/policy.onnx [--episodes 3]

A RealSense-like camera gives a 640 x 480 colour frame in BGR order (OpenCV's) and a depth frame
of uint16 units (`depth_scale` metres each, 1 mm for most). The policy takes what ArmReach-v1's
camera gives (docs/envs.md, "Pixels"): a square `image_size` x `image_size` RGB image and its
depth in millimetres, from a camera with the square field of view `camera_fov`. `to_policy_inputs`
does the conversion: crop the centre square, resize (colour: the mean of each block; depth: the
nearest pixel, as a mean across an edge would be a depth where nothing is), BGR to RGB, units to
millimetres, clipped to the observation's range.

Here the camera is simulated: each step the env's camera renders the full frame at the camera's
pose of the episode (`Camera.draw`, vertical field of view `camera_fov`, 4:3), the script turns it
into BGR and depth units as the device would, runs the pipeline, and feeds the policy (ONNX, no
torch) what came out. It prints how far the pipeline's image is from the env's own observation and
the success rate of the policy driven by the pipeline alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from envs.camera import NEAR  # noqa: E402
from examples.deploy_onnx import load_policy, make_env, policy_action  # noqa: E402

WIDTH, HEIGHT = 640, 480
DEPTH_SCALE = 0.001  # metres per depth unit, as a RealSense reports it


def to_policy_inputs(bgr: np.ndarray, depth_units: np.ndarray, depth_scale: float,
                     image_size: int, max_depth_mm: int) -> dict[str, np.ndarray]:  # fmt: skip
    """A camera's frame (H x W x 3 BGR uint8, H x W depth units) as the policy's "pixels"
    (image_size x image_size x 3 RGB uint8) and "depth" (image_size x image_size x 1 uint16 mm)."""
    height, width = depth_units.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    rgb = bgr[top : top + side, left : left + side, ::-1].astype(np.float64)
    # Colour: each output pixel the mean of the block of input pixels it covers.
    edges = np.arange(image_size) * side // image_size
    counts = np.diff(np.r_[edges, side])
    blocks = np.add.reduceat(np.add.reduceat(rgb, edges, axis=0), edges, axis=1)
    pixels = np.round(blocks / counts[:, None, None] / counts[None, :, None]).astype(np.uint8)
    # Depth: the input pixel nearest to each output pixel's centre.
    centres = ((np.arange(image_size) + 0.5) * side / image_size).astype(int)
    units = depth_units[top : top + side, left : left + side][np.ix_(centres, centres)]
    millimetres = np.clip(np.round(units * (depth_scale * 1000.0)), 0, max_depth_mm)
    return {"pixels": pixels, "depth": millimetres.astype(np.uint16)[..., None]}


def camera_frame(env) -> tuple[np.ndarray, np.ndarray]:
    """What the device would send now: BGR colour and depth units, WIDTH x HEIGHT, from the
    pose of the env's camera in this episode."""
    camera = env.unwrapped.camera
    projection = camera.client.computeProjectionMatrixFOV(
        camera.look.fov, WIDTH / HEIGHT, NEAR, camera.far
    )
    rgb, depth = camera.draw(WIDTH, HEIGHT, camera._view, projection)
    return rgb[..., ::-1], np.round(depth / DEPTH_SCALE).astype(np.uint16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", type=Path, help="policy.onnx of a pixel run")
    parser.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()
    session, metadata = load_policy(args.policy)
    env = make_env(metadata)
    space = metadata["observation_space"]["spaces"]
    size, max_depth = space["pixels"]["shape"][0], int(np.max(space["depth"]["high"]))
    differences, successes = [], []
    for episode in range(args.episodes):
        obs, info = env.reset(seed=1_000_000 + episode)
        for _ in range(env.spec.max_episode_steps):
            inputs = to_policy_inputs(*camera_frame(env), DEPTH_SCALE, size, max_depth)
            differences.append(np.abs(inputs["pixels"].astype(int) - obs["pixels"]).mean())
            action = policy_action(session, dict(obs, **inputs), discrete=False)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        successes.append(bool(info.get("is_success")))
        print(f"episode {episode}: success {successes[-1]}")
    print(
        f"pipeline image vs the env's own: {np.mean(differences):.1f} levels of 255 apart on "
        f"average; success rate {np.mean(successes):.2f} over {args.episodes} episodes"
    )


if __name__ == "__main__":
    main()
