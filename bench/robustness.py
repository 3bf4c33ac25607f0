"""A pixel policy under conditions it never trained in: the camera moved and turned beyond its
randomized ranges, lights and colours outside theirs, more distractors, more noise, the full
meshes; beside it, a policy trained in the nominal scene (randomize=False) under the same ones.

Each run directory's final deterministic policy plays `--episodes` unseen seeds per condition, in
its own env (config.json) with the condition's keywords (envs/scene.py) laid over it; a condition
of several variants (the camera moved 5 cm along each of 6 directions) shares its episodes among
them. The runs come from bench/pixels.py's `--keep`:

    python bench/pixels.py --arms kuka_iiwa --sb3_arms --keep runs/randomized
    python bench/pixels.py --arms kuka_iiwa --sb3_arms --keep runs/nominal \\
        --env_kwargs randomize=False --out bench/results/pixels_nominal.json
    python bench/robustness.py --randomized runs/randomized --nominal runs/nominal
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import common  # noqa: E402
from envs import scene  # noqa: E402
from envs.camera import DEFAULT_FOV  # noqa: E402

AXES = [tuple(float(v) for v in row) for row in np.vstack([np.eye(3), -np.eye(3)])]
CAMERA = dict(camera_offset=(0.0, 0.0, 0.0), camera_turn=(0.0, 0.0, 0.0), camera_fov=DEFAULT_FOV)
# name: the variants (keywords over the run's env), each beyond the training ranges of
# envs/scene.py where it names one.
CONDITIONS = {
    "camera as configured": [CAMERA],
    "camera moved 5 cm (6 directions)": [
        dict(CAMERA, camera_offset=tuple(0.05 * v for v in axis)) for axis in AXES
    ],
    "camera turned 5 degrees (6 axes)": [
        dict(CAMERA, camera_turn=tuple(5.0 * v for v in axis)) for axis in AXES
    ],
    "field of view 50 +- 6 degrees": [
        dict(CAMERA, camera_fov=DEFAULT_FOV - 6),
        dict(CAMERA, camera_fov=DEFAULT_FOV + 6),
    ],
    "light: blue, dim, bright, low": [
        dict(CAMERA, light_color=(0.55, 0.65, 1.0)),
        dict(CAMERA, light_ambient=0.2),
        dict(CAMERA, light_ambient=0.9),
        dict(CAMERA, light_direction=(1.0, 0.0, 0.2)),  # 11 degrees above the horizon
    ],
    "colours: white arm, black table, white background": [
        dict(CAMERA, arm_color=(1.0, 1.0, 1.0)),
        dict(CAMERA, floor_color=(0.05, 0.05, 0.05)),
        dict(CAMERA, background_color=(1.0, 1.0, 1.0)),
    ],
    f"{2 * scene.MAX_DISTRACTORS + 2} distractors": [
        dict(CAMERA, distractors=2 * scene.MAX_DISTRACTORS + 2)
    ],
    f"image noise {2 * scene.IMAGE_NOISE[1]:g} levels": [
        dict(CAMERA, image_noise=2 * scene.IMAGE_NOISE[1])
    ],
    "full meshes": [dict(CAMERA, max_triangles=None)],
}


def success(run_dir: Path, variants: list[dict], episodes: int) -> float:
    """The final policy's success rate over `episodes` unseen episodes shared by the variants."""
    shares = np.diff(np.linspace(0, episodes, len(variants) + 1).astype(int))
    rates = [
        common.final_success(run_dir, int(share), variant) * share
        for variant, share in zip(variants, shares, strict=True)
    ]
    return float(sum(rates) / episodes)


def runs_in(directory: Path) -> list[Path]:
    """The run directories bench/pixels.py --keep left under `directory` (ARM/ppo/ppo_sSEED)."""
    found = sorted(p.parent for p in directory.glob("*/ppo/ppo_s*/checkpoint.pt"))
    if not found:
        raise SystemExit(f"no runs under {directory}: make them with bench/pixels.py --keep DIR.")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--randomized", type=Path, required=True, help="--keep DIR of the pixel runs"
    )
    parser.add_argument("--nominal", type=Path, help="--keep DIR of runs with randomize=False")
    parser.add_argument("--episodes", type=int, default=common.FINAL_EPISODES)
    parser.add_argument("--conditions", nargs="+", choices=sorted(CONDITIONS), default=None)
    common.add_out_argument(parser, "robustness")
    args = parser.parse_args()
    conditions = {name: CONDITIONS[name] for name in args.conditions or CONDITIONS}
    sets = {"randomized": runs_in(args.randomized)}
    if args.nominal:
        sets["nominal scene"] = runs_in(args.nominal)
    rows, data = [], {}
    for name, variants in conditions.items():
        row = [name]
        for trained, runs in sets.items():
            rates = [success(run, variants, args.episodes) for run in runs]
            data.setdefault(name, {})[trained] = dict(zip(map(str, runs), rates, strict=True))
            row.append(common.median_range(rates))
        rows.append(row)
    arms = sorted({run.parents[1].name for runs in sets.values() for run in runs})
    common.report(
        args.out,
        title=f"Pixel policies outside their training ranges: {', '.join(arms)}, "
        f"{args.episodes} unseen episodes per condition",
        columns=["condition", *(f"trained {t}: success, median (range)" for t in sets)],
        rows=rows,
        notes="Runs: " + "; ".join(f"{t}: {len(r)}" for t, r in sets.items()) + ". Ranges "
        "trained in (envs/scene.py): camera within "
        f"{100 * scene.CAMERA_SHIFT:g} cm and {scene.CAMERA_TURN:g} degrees, field of view "
        f"+- {scene.FOV_RANGE:g}, light colour {scene.LIGHT_COLOR}, ambient {scene.LIGHT_AMBIENT}, "
        f"elevation {scene.LIGHT_ELEVATION}, surface brightness {scene.SURFACE_VALUE}, 0 to "
        f"{scene.MAX_DISTRACTORS} distractors, noise {scene.IMAGE_NOISE}.",
        data=data,
    )


if __name__ == "__main__":
    main()
