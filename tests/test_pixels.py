"""ArmReach-v1's obs_mode="pixels" and ppo() on Dict observations: the camera, the CNN, the
buffer, the normalizer, resume, export, MPI (docs: Environments, "Pixels"; Algorithm, "Pixels").

Real PyBullet renders, real torch, real onnxruntime, real mpirun; tiny images (40 x 40) keep it
quick.
"""

import json
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict

import core
import envs  # noqa: F401  (registers ArmReach-v1)
import ppo
from envs.camera import box_corners
from envs.robots import PRESETS
from tests.helpers import assert_ok, run, run_mpi
from tests.test_export import deploy
from tests.test_ppo import read_progress
from utils import env_batch, export, test_policy

SIZE = 40
PIXELS = dict(obs_mode="pixels", image_size=SIZE)


def make(robot="kuka_iiwa", **kwargs):
    return gym.make("ArmReach-v1", robot=robot, **PIXELS, **kwargs)


def train(run_dir, epochs=2, **kwargs):
    return ppo.ppo(
        lambda: make(),
        epochs=epochs,
        steps_per_epoch=200,
        num_envs=4,
        quiet=True,
        logger_kwargs=dict(output_dir=str(run_dir)),
        **kwargs,
    )


@pytest.fixture(scope="module")
def pixel_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("pixels") / "pixels_s0"
    train(run_dir)
    return run_dir


@pytest.mark.parametrize("robot", sorted(PRESETS))
def test_the_observation_is_an_image_and_proprioception_and_never_the_target(robot):
    env = make(robot)
    obs, info = env.reset(seed=0)
    n = len(env.unwrapped.joints)
    millimetres = int(np.ceil(1000 * env.unwrapped.camera.max_depth))
    assert env.observation_space == Dict(
        pixels=Box(0, 255, (SIZE, SIZE, 3), np.uint8),
        depth=Box(0, millimetres, (SIZE, SIZE, 1), np.uint16),
        proprio=env.observation_space["proprio"],
    )
    assert obs["pixels"].dtype == np.uint8 and obs["pixels"].shape == (SIZE, SIZE, 3)
    assert obs["depth"].dtype == np.uint16 and obs["depth"].shape == (SIZE, SIZE, 1)
    assert obs["proprio"].shape == (2 * n + 3,)  # joint positions, velocities, end effector
    np.testing.assert_array_equal(obs["proprio"], info["state"][: 2 * n + 3])
    # The same arm with the target elsewhere: the state is the same, only the image changes.
    unwrapped = env.unwrapped
    moved = unwrapped.target_low + 0.9 * (unwrapped.target_high - unwrapped.target_low)
    unwrapped.task.position = moved
    again, info_again = unwrapped._observe(False)
    np.testing.assert_array_equal(again["proprio"], obs["proprio"])
    assert not np.array_equal(again["pixels"], obs["pixels"])
    assert not np.isin(np.float32(moved), again["proprio"]).any()
    np.testing.assert_allclose(info_again["state"][2 * n + 3 : 2 * n + 6], moved, atol=1e-6)
    env.close()


@pytest.mark.parametrize("robot", sorted(PRESETS))
def test_the_default_camera_sees_the_target_ball_anywhere_in_the_box(robot):
    env = make(robot, randomize=False)
    unwrapped = env.unwrapped
    env.reset(seed=0)
    radius = unwrapped.success_distance
    corners = box_corners(unwrapped.target_low - radius, unwrapped.target_high + radius)
    assert len(unwrapped.camera.outside(corners)) == 0
    for corner in box_corners(unwrapped.target_low, unwrapped.target_high):
        unwrapped.task.position = corner
        image = unwrapped.camera.observe(None)["pixels"].astype(int)
        red = (image[..., 0] > 120) & (image[..., 1] < 60) & (image[..., 2] < 60)
        assert red.any(), f"{robot}: the ball at {corner} is unseen"
    env.close()


def test_state_mode_is_unchanged_by_the_pixel_options():
    state = gym.make("ArmReach-v1")
    assert isinstance(state.observation_space, Box) and state.unwrapped.camera is None
    pixels = make()
    for seed in range(3):
        obs, info = state.reset(seed=seed)
        pixel_obs, pixel_info = pixels.reset(seed=seed)
        np.testing.assert_array_equal(obs, pixel_info["state"])
        act = state.action_space.sample()
        np.testing.assert_array_equal(state.step(act)[0], pixels.step(act)[4]["state"])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(obs_mode="pixel"), "obs_mode='pixel' is unknown"),
        (dict(obs_mode="pixels", goal="pose"), "use goal='position' with pixels"),
        (dict(obs_mode="pixels", image_size=4), "image_size=4 must be"),
        (dict(obs_mode="pixels", camera_fov=200), "camera_fov=200 must be"),
        (dict(obs_mode="pixels", camera_position=[5, 5, 5], camera_target=[9, 9, 9]), "not see"),
        (dict(obs_mode="pixels", camera_position=[1, 2]), "camera_position=[1, 2] must be 3"),
    ],
)  # fmt: skip
def test_a_wrong_pixel_option_is_one_line_that_names_it(kwargs, words):
    with pytest.raises(ValueError, match="^[^\n]*$") as error:
        gym.make("ArmReach-v1", **kwargs)
    assert words in str(error.value)


def test_images_reach_the_cnn_as_floats_in_0_1_and_the_buffer_as_they_come():
    env = make()
    space = env.observation_space
    ac = core.CNNActorCritic(space, env.action_space, normalize_obs=True)
    seen = []
    # The image and its depth: the four channels of one CNN.
    first_conv = ac.pi.mu_net[0].cnns["depth+pixels"][0]
    first_conv.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    obs, _ = env.reset(seed=0)
    batch = core.stack_obs([obs, obs])
    ac.step(batch)
    image = seen[0]
    assert image.dtype == torch.float32 and image.shape == (2, 4, SIZE, SIZE)
    expected = torch.as_tensor(obs["pixels"]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(image[0, 1:], expected)
    depth = torch.as_tensor(obs["depth"].astype(np.float32)).permute(2, 0, 1)
    torch.testing.assert_close(image[0, :1], depth / float(space["depth"].high.max()))
    assert 0 < image[0, :1].min() and image[0, :1].max() <= 1

    buf = core.PPOBuffer(space, env.action_space.shape, size=2, num_envs=2)
    for _ in range(2):
        buf.store(ac.normalize(batch), np.zeros((2, 7)), np.zeros(2), np.zeros(2), np.zeros(2))
    buf.finish_path(0)
    buf.finish_path(1)
    data = buf.get()
    images = data["obs"]["pixels"]
    assert images.dtype == np.uint8 and images.shape == (4, SIZE, SIZE, 3)
    np.testing.assert_array_equal(images[0], obs["pixels"])
    assert data["obs"]["depth"].dtype == np.uint16  # millimetres, not cut to a byte
    np.testing.assert_array_equal(data["obs"]["depth"][0], obs["depth"])
    assert data["obs"]["proprio"].dtype == np.float32


def test_the_normalizer_sees_the_vectors_and_never_an_image(pixel_run):
    ac, env, _ = test_policy.load_actor_critic(pixel_run)
    critic = json.loads((pixel_run / "config.json").read_text())
    assert critic["privileged_critic"] is True
    n_state = env.observation_space["proprio"].shape[0]
    n_critic = ac.critic_dim
    assert n_critic == n_state + 6  # the full state: the proprioception, the target, the offset
    assert ac.obs_rms.mean.shape == (n_state + n_critic,)
    assert sorted(ac.obs_rms.slices) == ["critic", "proprio"]
    obs, _ = env.reset(seed=0)
    normalized = ac.normalize(obs)
    assert normalized["pixels"] is obs["pixels"]
    assert ac.obs_rms.count > 0


def test_the_actor_reads_pixels_and_state_and_the_critic_the_privileged_state(pixel_run):
    ac, env, _ = test_policy.load_actor_critic(pixel_run)
    encoder = ac.pi.mu_net[0]
    assert encoder.image_keys == ["depth", "pixels"] and encoder.vector_keys == ["proprio"]
    assert ac.v.v_net[0].image_keys == [] and ac.v.v_net[0].vector_keys == ["critic"]
    obs, _ = env.reset(seed=0)
    assert ac.act(obs, deterministic=True).shape == env.action_space.shape  # no critic key needed


def test_a_symmetric_critic_has_its_own_cnn(tmp_path):
    ac = train(tmp_path / "sym", epochs=1, privileged_critic=False)
    assert ac.critic_dim == 0 and ac.v.v_net[0].image_keys == ["depth", "pixels"]
    assert ac.v.v_net[0].cnns["depth+pixels"] is not ac.pi.mu_net[0].cnns["depth+pixels"]


def test_a_dict_run_resumes_from_its_checkpoint(tmp_path):
    train(tmp_path, epochs=2)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    ac = train(tmp_path, epochs=2, resume=str(tmp_path))  # nothing left: the checkpoint's networks
    for key, value in ac.state_dict().items():
        torch.testing.assert_close(value, saved["ac"][key])
    ac = train(tmp_path, epochs=3, resume=str(tmp_path))
    _, rows = read_progress(tmp_path)
    assert [r["Epoch"] for r in rows] == [0, 1, 2]
    assert rows[-1]["TotalEnvInteracts"] == 800  # the warm-up's 200, then 3 epochs
    assert ac.obs_rms.count.item() == 800  # the vectors' statistics went on from the checkpoint
    first_conv = "pi.mu_net.0.cnns.depth+pixels.0.weight"  # trained on: it changed
    assert not torch.equal(ac.state_dict()[first_conv], saved["ac"][first_conv])


def test_onnx_export_takes_image_depth_and_proprio_and_matches_get_action(pixel_run, tmp_path):
    out = export.export_policy(pixel_run, tmp_path / "policy.onnx")
    session, metadata = deploy.load_policy(out)
    inputs = {i.name: i.type for i in session.get_inputs()}
    assert inputs == {"depth": "tensor(uint16)", "pixels": "tensor(uint8)",
                      "proprio": "tensor(float)"}  # fmt: skip
    assert metadata["env_kwargs"]["obs_mode"] == "pixels"
    env, get_action = test_policy.load_policy_and_env(pixel_run)
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        action = get_action(obs)
        np.testing.assert_allclose(deploy.policy_action(session, obs, False), action, atol=1e-5)
        obs, *_ = env.step(action)
    stats = deploy.control_loop(
        lambda o: deploy.policy_action(session, o, False), deploy.make_env(metadata), 1,
        realtime=False, verbose=False,
    )  # fmt: skip
    assert stats["lengths"] == [50]


def test_the_video_shows_what_the_policy_saw_beside_the_scene(pixel_run, tmp_path):
    env, get_action = test_policy.load_policy_and_env(pixel_run, render_mode="rgb_array")
    frame = env.unwrapped.render()
    obs, _ = env.reset(seed=0)
    both = test_policy.beside(env.render(), obs)
    scale = frame.shape[0] // SIZE
    # The depth in grey, then the colour image: the Dict's order.
    assert both.shape == (frame.shape[0], frame.shape[1] + 2 * SIZE * scale, 3)
    depth = both[: SIZE * scale : scale, frame.shape[1] : frame.shape[1] + SIZE * scale : scale]
    grey = (255.0 * obs["depth"] / obs["depth"].max()).astype(np.uint8)
    np.testing.assert_array_equal(depth, np.broadcast_to(grey, (SIZE, SIZE, 3)))
    seen = both[: SIZE * scale : scale, frame.shape[1] + SIZE * scale :: scale]
    np.testing.assert_array_equal(seen, obs["pixels"])


@pytest.mark.parametrize(
    "space, words",
    [
        (Dict(pixels=Box(0, 255, (3, 64, 64), np.uint8)), "channel-first"),
        (Dict(pixels=Box(0, 255, (6, 6, 3), np.uint8)), "6x6 image"),
        (Dict(pixels=Box(0, 1, (64, 64, 3), np.float32)), "flatten it, or make an image uint8"),
        (Dict(goal=gym.spaces.Discrete(3)), "flat Boxes"),
    ],
)
def test_a_dict_space_ppo_cannot_take_is_one_line(space, words):
    with pytest.raises(ValueError, match="^[^\n]*$") as error:
        env_batch.check_spaces(space, Box(-1, 1, (2,)))
    assert words in str(error.value)


def test_an_image_that_is_not_what_the_space_says_is_one_line():
    space = Dict(pixels=Box(0, 255, (40, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="observation 'pixels' is float32 of shape") as error:
        env_batch.check_observation({"pixels": np.zeros((40, 40, 3), np.float32)}, space)
    assert "\n" not in str(error.value)


def test_one_epoch_of_pixel_training_runs_under_mpirun_np_2(tmp_path):
    result = run_mpi(
        2,
        ["ppo.py", "--env", "ArmReach-v1", "--env_kwargs", "obs_mode=pixels", f"image_size={SIZE}",
         "--epochs", "1", "--steps", "400", "--num_envs", "4", "--data_dir", str(tmp_path),
         "--exp_name", "px", "--quiet"],
    )  # fmt: skip
    assert_ok(result)
    rows = (tmp_path / "px" / "px_s0" / "progress.txt").read_text().splitlines()
    assert len(rows) == 2 and (tmp_path / "px" / "px_s0" / "checkpoint.pt").exists()
    result = run(
        [sys.executable, "-m", "utils.test_policy", str(tmp_path / "px" / "px_s0"), "-n", "2"]
    )
    assert_ok(result)
    assert "SuccessRate" in result.stdout


def test_the_rgbd_example_feeds_the_policy_frames_of_a_640x480_camera(pixel_run, tmp_path):
    out = export.export_policy(pixel_run, tmp_path / "policy.onnx")
    result = run([sys.executable, "examples/rgbd_camera.py", str(out), "--episodes", "1"])
    assert_ok(result)
    last = result.stdout.strip().splitlines()[-1]
    apart = float(last.split("pipeline image vs the env's own: ")[1].split(" levels")[0])
    assert apart < 12, last  # the same scene, resampled from 640 x 480
    assert "success rate" in last


def test_the_pipeline_crops_the_centre_resizes_and_converts_bgr_and_depth_units():
    from examples.rgbd_camera import to_policy_inputs

    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[:, 8:56, 0] = 200  # blue in BGR, over the centre square alone
    depth = np.full((48, 64), 1500, np.uint16)  # 1.5 m in units of 1 mm...
    inputs = to_policy_inputs(bgr, depth, 0.0001, 8, 2000)  # ...of 0.1 mm: 150 mm
    assert inputs["pixels"].shape == (8, 8, 3) and inputs["depth"].shape == (8, 8, 1)
    assert (inputs["pixels"][..., 2] == 200).all() and (inputs["pixels"][..., :2] == 0).all()
    assert inputs["depth"].dtype == np.uint16 and (inputs["depth"] == 150).all()
    far = to_policy_inputs(bgr, depth, 0.01, 8, 2000)["depth"]  # 15 m: past the range
    assert (far == 2000).all()


def test_the_state_loss_guesses_the_target_and_not_the_proprioception_the_actor_reads():
    env = make()
    critic = Box(-np.inf, np.inf, (23,), np.float32)
    space = Dict({**env.observation_space.spaces, core.CRITIC_KEY: critic})
    ac = core.CNNActorCritic(space, env.action_space)
    obs, info = env.reset(seed=0)
    observations = []
    for _ in range(20):
        observations.append(dict(obs, **{core.CRITIC_KEY: info["state"]}))
        obs, _, _, _, info = env.step(env.action_space.sample())
    batch = core.as_tensor(core.stack_obs(observations))
    # [q (7), dq (7), ee (3)] are the actor's "proprio"; the target (3) and target - ee (3) not.
    assert ac.hidden_state_entries(batch).tolist() == list(range(17, 23))
    ac.pi(batch)
    loss = ppo.compute_loss_state(ac, {"obs": batch})
    guess = ac.predict_state()[:, 17:]
    torch.testing.assert_close(loss, ((guess - batch[core.CRITIC_KEY][:, 17:]) ** 2).mean())
