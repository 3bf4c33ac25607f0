"""examples/quickstart.ipynb: it runs headless from top to bottom, and its committed outputs are
those of a real run."""

import re

import nbformat
from nbclient import NotebookClient

from tests.helpers import REPO

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"
SUCCESS_LINE = re.compile(r"Success rate over (\d+) episodes: (\d+)%")


def outputs(nb) -> tuple[str, int]:
    """(all text the code cells printed, number of PNG images they showed)."""
    text, images = [], 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", ""))
            images += "image/png" in output.get("data", {})
    return "".join(text), images


def test_quickstart_runs_headless_and_shows_a_learning_curve_a_frame_and_a_success_rate(
    tmp_path, monkeypatch
):
    # The notebook reads its budget from these (the kernel inherits the environment).
    monkeypatch.setenv("QUICKSTART_EPOCHS", "2")
    monkeypatch.setenv("QUICKSTART_STEPS", "800")
    monkeypatch.setenv("QUICKSTART_EVAL_EPISODES", "5")
    monkeypatch.setenv("QUICKSTART_DATA_DIR", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # As Jupyter runs it: in the notebook's folder. A cell that raises fails the test here.
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": NOTEBOOK.parent}}
    )
    client.execute()

    text, images = outputs(nb)
    assert images >= 2, "the learning curve and the rendered arm"
    assert SUCCESS_LINE.search(text).group(1) == "5", text
    assert "argv[0]" not in text and "build time" not in text, "PyBullet's start-up lines"
    assert (tmp_path / "quickstart" / "quickstart_s0" / "checkpoint.pt").exists()


def test_committed_quickstart_carries_the_outputs_of_a_full_run():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text, images = outputs(nb)
    assert images >= 2
    assert "Trained 50 epochs x 2000 steps" in text
    assert "argv[0]" not in text and "build time" not in text, "PyBullet's start-up lines"
    match = SUCCESS_LINE.search(text)
    assert match is not None and int(match.group(2)) >= 90, text
