"""The pixel camera's scene (envs/camera.py, envs/scene.py, envs/meshes.py): it shows the bodies of
the world and nothing painted, its depth is the geometry's, each randomized property changes the
frame and can be fixed, and a seed gives the same frames."""

import math
import pathlib

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers ArmReach-v1)
from envs import meshes, scene
from envs.bullet import pybullet
from envs.camera import project
from envs.robots import PRESETS

SIZE = 48
# A scene whose classes a pixel's colour tells apart: a blue arm, a white table, a green
# background, the red target, an even light.
PLAIN = dict(
    randomize=False, arm_color=(0, 0, 1), floor_color=(1, 1, 1), background_color=(0, 1, 0),
    light_ambient=1.0,
)  # fmt: skip


def make(robot="kuka_iiwa", **kwargs):
    return gym.make("ArmReach-v1", robot=robot, obs_mode="pixels", image_size=SIZE, **kwargs)


def classes(rgb: np.ndarray) -> dict[str, np.ndarray]:
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return dict(arm=(b > 100) & (r < 80) & (g < 80), target=(r > 100) & (g < 80) & (b < 80),
                background=(g > 150) & (r < 80) & (b < 80))  # fmt: skip


@pytest.mark.parametrize("robot", sorted(PRESETS))
def test_the_arm_in_the_frame_is_where_the_physics_draws_the_arm_with_its_full_meshes(robot):
    env = make(robot, **PLAIN)
    env.reset(seed=1)
    unwrapped, camera = env.unwrapped, env.unwrapped.camera
    seen = classes(camera.observe(None)["pixels"])
    # The physics client's own arm (full meshes) from the same view: its segmentation mask.
    mask = unwrapped.client.getCameraImage(
        SIZE, SIZE, camera._view, camera._projection, renderer=pybullet.ER_TINY_RENDERER
    )[4]
    full = np.asarray(mask).reshape(SIZE, SIZE) == unwrapped.body
    ours = seen["arm"] & ~seen["target"]
    full &= ~seen["target"]
    overlap = (ours & full).sum() / (ours | full).sum()
    assert overlap > 0.75, f"{robot}: the arm's pixels overlap the physics' arm by {overlap:.2f}"
    env.close()


def test_nothing_is_painted_moving_the_target_up_changes_only_the_pixels_of_the_ball():
    env = make(**PLAIN)
    env.reset(seed=0)
    unwrapped, camera = env.unwrapped, env.unwrapped.camera
    low, high = unwrapped.target_low, unwrapped.target_high
    centres = [np.r_[(low + high)[:2] / 2, z] for z in (low[2], high[2])]
    frames = []
    for centre in centres:
        unwrapped.task.position = centre
        frames.append(camera.observe(None)["pixels"])
    changed = np.argwhere((frames[0] != frames[1]).any(axis=-1))
    assert len(changed) > 0
    # Each changed pixel lies on one of the two balls' images (their projected radius, 2 px
    # of margin): no shadow disc, nothing drawn on the table under the ball.
    radius = unwrapped.success_distance
    ndc = project(np.array(centres), camera._view, camera._projection)
    pixel_centres = np.c_[(1 - ndc[:, 1]) / 2 * SIZE, (ndc[:, 0] + 1) / 2 * SIZE]
    distances = np.linalg.norm(np.array(centres) - camera.position, axis=1)
    pixel_radii = radius / (distances * math.tan(math.radians(camera.fov) / 2)) * SIZE / 2
    near = [
        np.linalg.norm(changed + 0.5 - c, axis=1) <= r + 2
        for c, r in zip(pixel_centres, pixel_radii, strict=True)
    ]
    assert (near[0] | near[1]).all(), changed[~(near[0] | near[1])]
    env.close()


def back_project(camera, depth: np.ndarray) -> np.ndarray:
    """The world point (SIZE, SIZE, 3) of each pixel at its depth along the view axis.
    TinyRenderer samples the pixel in row i and column j at (j, i + 1) pixels from the image's
    top-left corner (measured: the table's points lie at z = 0 within 0.5 mm so, 2 cm off at
    pixel centres)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    rows += 1
    tan = math.tan(math.radians(camera.look.fov) / 2)
    x, y = (cols / SIZE * 2 - 1) * tan * depth, (1 - rows / SIZE * 2) * tan * depth
    in_camera = np.stack([x, y, -depth, np.ones_like(depth)], axis=-1)
    view = np.array(camera._view).reshape(4, 4).T  # column-major
    return (in_camera @ np.linalg.inv(view).T)[..., :3]


def test_depth_is_the_geometry_the_table_at_height_0_and_the_ball_where_it_is():
    env = make(**PLAIN)
    env.reset(seed=0)
    camera = env.unwrapped.camera
    obs = camera.observe(None)
    depth = obs["depth"][..., 0] / 1000.0
    points = back_project(camera, depth)
    seen = classes(obs["pixels"])
    table = ~seen["arm"] & ~seen["target"] & ~seen["background"]
    assert table.sum() > SIZE * SIZE / 4
    np.testing.assert_allclose(points[table][:, 2], 0.0, atol=0.01)
    # Each pixel of the ball lies on its surface (1 cm of rounding to a pixel and a millimetre).
    ball = seen["target"]
    assert ball.sum() > 0
    from_centre = np.linalg.norm(points[ball] - env.unwrapped.task.position, axis=1)
    np.testing.assert_allclose(from_centre, env.unwrapped.success_distance, atol=0.01)
    # Nothing at all: the far end of the depth range.
    assert (obs["depth"][seen["background"]] == np.round(1000 * camera.max_depth)).all()
    env.close()


# keyword, a value that differs from the nominal look, and what the look holds for it
PROPERTIES = {
    "camera_offset": ((0.03, 0.0, 0.0), lambda look: look.camera_offset),
    "camera_turn": ((0.0, 3.0, 0.0), lambda look: look.camera_turn),
    "camera_fov": (46.0, lambda look: look.fov),
    "light_direction": ((-1.0, 0.5, 0.5), lambda look: look.light_direction),
    "light_color": ((0.8, 0.9, 1.0), lambda look: look.light_color),
    "light_ambient": (0.4, lambda look: look.light_ambient),
    "arm_color": ((0.2, 0.7, 0.3), lambda look: look.arm_colors[0]),
    "floor_color": ((0.3, 0.3, 0.6), lambda look: look.floor_color),
    "background_color": ((0.2, 0.2, 0.2), lambda look: look.background_color),
    "distractors": (3, lambda look: len(look.distractors)),
    "image_noise": (5.0, lambda look: look.image_noise),
}


@pytest.mark.parametrize("keyword", sorted(PROPERTIES))
def test_each_randomized_property_changes_the_frame_is_drawn_per_episode_and_can_be_fixed(
    keyword,
):
    value, read = PROPERTIES[keyword]
    nominal = make(randomize=False).reset(seed=0)[0]["pixels"]
    changed = make(randomize=False, **{keyword: value}).reset(seed=0)[0]["pixels"]
    assert not np.array_equal(nominal, changed), f"{keyword}={value} left the frame as it was"
    drawn, fixed = make(), make(**{keyword: value})
    looks = []
    for seed in range(4):
        drawn.reset(seed=seed)
        fixed.reset(seed=seed)
        looks.append(np.atleast_1d(read(drawn.unwrapped.camera.look)).copy())
        np.testing.assert_allclose(read(fixed.unwrapped.camera.look), value)
    assert len({tuple(look) for look in looks}) > 1, f"{keyword} is not drawn per episode"


def test_the_drawn_values_stay_in_their_ranges_and_no_surface_looks_like_the_target():
    env = make()
    for seed in range(30):
        env.reset(seed=seed)
        look = env.unwrapped.camera.look
        assert np.linalg.norm(look.camera_offset) <= scene.CAMERA_SHIFT
        assert np.linalg.norm(look.camera_turn) <= scene.CAMERA_TURN
        assert abs(look.fov - 50.0) <= scene.FOV_RANGE
        assert scene.LIGHT_AMBIENT[0] <= look.light_ambient <= scene.LIGHT_AMBIENT[1]
        assert 0 <= len(look.distractors) <= scene.MAX_DISTRACTORS
        surfaces = [*look.arm_colors, look.floor_color, look.background_color]
        surfaces += [color for *_, color in look.distractors]
        assert not any(scene.looks_like_target(color) for color in surfaces)


def test_a_seed_gives_the_same_frames_and_another_seed_other_ones():
    first, second, other = make(), make(), make()
    actions = np.random.default_rng(0).uniform(-1, 1, (60, 7))
    for env, seed in ((first, 3), (second, 3), (other, 4)):
        env.reset(seed=seed)
    for action in actions:  # past the 50-step time limit: through a reset
        frames = []
        for env in (first, second, other):
            obs, _, terminated, truncated, _ = env.step(action)
            frames.append(obs)
            if terminated or truncated:
                env.reset()
        for key in ("pixels", "depth"):
            np.testing.assert_array_equal(frames[0][key], frames[1][key])
    assert not np.array_equal(frames[0]["pixels"], frames[2]["pixels"])


def test_the_video_shows_the_scene_the_policy_sees_with_the_same_red_target():
    env = make(render_mode="rgb_array", **PLAIN)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (240, 320, 3)
    video, policy = classes(frame), classes(env.unwrapped.camera.observe(None)["pixels"])
    for part in ("arm", "target", "background"):
        assert video[part].any() and policy[part].any(), part


def test_depth_can_be_left_out_and_max_triangles_none_draws_the_full_meshes():
    env = make(depth=False)
    assert sorted(env.observation_space) == ["pixels", "proprio"]
    assert sorted(env.reset(seed=0)[0]) == ["pixels", "proprio"]
    path = env.unwrapped.client.getVisualShapeData(env.unwrapped.body)[1][4].decode()
    full, simplified = meshes.read(path, None), meshes.read(path, meshes.MAX_TRIANGLES)
    assert len(simplified[1]) <= meshes.MAX_TRIANGLES * meshes.STALL < len(full[1])
    np.testing.assert_allclose(np.linalg.norm(simplified[2], axis=1), 1.0, atol=1e-6)
    # The simplified mesh keeps the full one's extent (a few % at most).
    np.testing.assert_allclose(np.ptp(simplified[0], axis=0), np.ptp(full[0], axis=0), rtol=0.05)
    full_frame = make(max_triangles=None, randomize=False).reset(seed=0)[0]["pixels"]
    frame = make(randomize=False).reset(seed=0)[0]["pixels"]
    assert 0 < (full_frame != frame).any(axis=-1).mean() < 0.1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(camera_offset=(0, 0)), "camera_offset=(0, 0) must be 3 finite numbers"),
        (dict(camera_offset="abc"), "camera_offset='abc' must be 3 finite numbers"),
        (dict(camera_position=["a", "b", "c"]), "camera_position=['a', 'b', 'c'] must be 3"),
        (dict(floor_color=("a", "b", "c")), "floor_color=('a', 'b', 'c') must be 3 numbers"),
        (dict(camera_turn=(0, 0, 120)), "camera_turn=(0, 0, 120): a turn of 90 degrees"),
        (dict(light_direction=(0, 0, 0)), "light_direction=[0, 0, 0] has no direction"),
        (dict(light_color=(1, 1, 2)), "light_color=(1, 1, 2) must be 3 numbers"),
        (dict(arm_color="red"), "arm_color='red' must be 3 numbers"),
        (dict(light_ambient=1.5), "light_ambient=1.5 must be in [0, 1]"),
        (dict(light_ambient="bright"), "light_ambient='bright' must be in [0, 1]"),
        (dict(distractors=-1), "distractors=-1 must be a whole number from 0 to 20"),
        (dict(distractors=2.5), "distractors=2.5 must be a whole number"),
        (dict(image_noise=-3), "image_noise=-3 must be in [0, 255]"),
        (dict(image_noise="high"), "image_noise='high' must be in [0, 255]"),
        (dict(max_triangles=2), "max_triangles=2 must be a whole number >= 4"),
        (dict(camera_offset=(0, 0, 5)), "does not see the target box"),
    ],
)  # fmt: skip
def test_a_wrong_scene_keyword_is_one_line_that_names_it(kwargs, words):
    with pytest.raises(ValueError, match="^[^\n]*$") as error:
        make(**kwargs)
    assert words in str(error.value)


def test_a_mesh_that_cannot_be_read_is_one_line_that_names_the_link_and_the_file(tmp_path):
    mesh = tmp_path / "broken.stl"
    mesh.write_bytes(b"solid x\nfacet normal 0 0 1\nnot a mesh at all\n")
    urdf = (pathlib.Path(__file__).parent / "fixtures" / "three_joint_arm.urdf").read_text()
    (tmp_path / "arm.urdf").write_text(urdf.replace("MESH", str(mesh)))
    with pytest.raises(ValueError, match="^[^\n]*$") as error:
        make(str(tmp_path / "arm.urdf"))
    assert "link 'link2'" in str(error.value) and str(mesh) in str(error.value)
