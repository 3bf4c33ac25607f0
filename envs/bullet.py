"""PyBullet without its start-up lines: ``import pybullet`` from here, and ``connect()`` a client.

PyBullet's C code prints ``pybullet build time: ...`` (to stderr) when the module is imported and
``argv[0]=`` (to stdout) when a client connects. Both go straight to the file descriptors, so
``contextlib.redirect_stdout`` cannot catch them, and in a notebook, a test log or an MPI job they
look like errors. ``quiet_output()`` points fd 1 and fd 2 at temporary files around those two
calls, drops the known start-up lines and writes everything else back where it was going, so a
real warning or error from PyBullet still shows.
"""

import contextlib
import ctypes
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator

import numpy as np

# Lines that PyBullet prints on every import or connect, and nothing else: anything that does not
# match is passed through.
STARTUP_LINES = re.compile(rb"^(pybullet build time: .*|argv\[\d+\]=.*|startThreads.*)$")

_libc = ctypes.CDLL(None)


@contextlib.contextmanager
def quiet_output() -> Iterator[None]:
    """Swallow PyBullet's start-up lines written to fd 1 and 2 inside the block; keep the rest."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None under pythonw and some daemon launchers
            stream.flush()
    saved = {}
    captured = {}
    try:
        for fd in (1, 2):
            saved[fd] = os.dup(fd)
            captured[fd] = tempfile.TemporaryFile()
            os.dup2(captured[fd].fileno(), fd)
        yield
    finally:
        # C's stdout is block-buffered when fd 1 is not a terminal: flush it into the capture
        # before fd 1 points back, or the banner would surface later.
        _libc.fflush(None)
        for fd, original in saved.items():
            os.dup2(original, fd)
            os.close(original)
        for fd, file in captured.items():
            file.seek(0)
            kept = [line for line in file.read().splitlines() if not STARTUP_LINES.match(line)]
            file.close()
            if kept:
                os.write(fd, b"\n".join(kept) + b"\n")


with quiet_output():
    import pybullet
    from pybullet_utils.bullet_client import BulletClient


def connect(render_mode: str | None = None) -> BulletClient:
    """A new physics client: DIRECT (headless), or GUI for ``render_mode="human"``."""
    mode = pybullet.GUI if render_mode == "human" else pybullet.DIRECT
    with quiet_output():
        return BulletClient(connection_mode=mode)


__all__ = ["BulletClient", "STARTUP_LINES", "connect", "pybullet", "quiet_output", "render"]


def render(env) -> np.ndarray | None:
    """`env.render()` of the ArmReach envs: with render_mode="rgb_array" an RGB frame of the env's
    camera (`_view`, `_projection`, `width` x `height`) from the headless TinyRenderer; with
    "human" a wait, so that the GUI, which draws itself, plays at the control rate."""
    if env.render_mode == "rgb_array":
        _, _, rgba, _, _ = env.client.getCameraImage(
            env.width,
            env.height,
            env._view,
            env._projection,
            renderer=pybullet.ER_TINY_RENDERER,
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(env.height, env.width, 4)[..., :3]
    if env.render_mode == "human":
        delay = env._last_frame_time + 1 / env.metadata["render_fps"] - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        env._last_frame_time = time.perf_counter()
    return None
