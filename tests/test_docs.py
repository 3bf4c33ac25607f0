"""The docs are part of the product: they build without a broken link, their tables are the
result files', the README stays a short page, and the requirements pin what the code imports."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from bench import render
from tests.helpers import REPO, assert_ok, run

pytestmark = pytest.mark.fast

# Pinned, never imported by name: what they are for.
USED_WITHOUT_IMPORT = {
    "mpich": "the mpirun that utils/mpi.py launches",
    "mujoco": "Gymnasium's MuJoCo envs in bench/suite.py",
    "imageio-ffmpeg": "imageio's mp4 writer",
    "onnxscript": "torch.onnx.export",
    "tensorboard": "torch.utils.tensorboard",
    "pytest": "the test runner",
    "ruff": "the linter",
    "mkdocs": "the docs build",
    "mkdocs-material": "the docs' theme",
    "mkdocstrings": "the docs' API page",
    "mkdocstrings-python": "the docs' API page",
    "ipykernel": "the notebook test's kernel",
    "pycollada": "trimesh's reader of .dae meshes (envs/meshes.py)",
}
USER_CODE = ["ppo.py", "core.py", "envs", "utils", "examples"]
DEV_CODE = ["bench", "tests"]


def pins(name: str) -> dict[str, str]:
    """The top section of a requirements file: the packages it asks for (not those pulled in)."""
    text = (REPO / name).read_text().split("# pulled in by the packages above")[0]
    found = re.findall(r"^([A-Za-z0-9_.-]+)==", text, re.M)
    return {n.lower().replace("_", "-"): n for n in found}


def imported_distributions(paths: list[str]) -> set[str]:
    """The distributions whose modules these files import (the standard library's and the
    project's own modules excluded)."""
    modules = set()
    for path in paths:
        files = [REPO / path] if path.endswith(".py") else (REPO / path).rglob("*.py")
        for file in files:
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    dists = packages_distributions()
    return {dist.lower().replace("_", "-") for m in modules for dist in dists.get(m, [])}


def test_what_the_code_imports_is_pinned_and_what_is_pinned_is_used():
    user, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert not set(user) & set(dev), "a package is pinned twice"
    assert "-r requirements.txt" in (REPO / "requirements-dev.txt").read_text()
    user_imports = imported_distributions(USER_CODE)
    dev_imports = imported_distributions(DEV_CODE)
    assert user_imports <= set(user), (
        f"imported, not in requirements.txt: {user_imports - set(user)}"
    )
    unpinned = dev_imports - set(user) - set(dev)
    assert not unpinned, f"imported by bench/ or tests/, pinned nowhere: {unpinned}"
    unused = set(user) | set(dev)
    unused -= user_imports | dev_imports | set(USED_WITHOUT_IMPORT)
    assert not unused, f"pinned, never used: {unused}"


def test_every_docs_table_is_rendered_from_its_result_file():
    for page in render.PAGES:
        text = page.read_text()
        assert render.render(text) == text, f"{page} differs: run `python bench/render.py`"


def test_a_table_that_differs_from_its_result_file_is_caught(tmp_path):
    page = REPO / "docs" / "benchmarks.md"
    text = page.read_text()
    block = render.BLOCK.search(text)
    assert block is not None, "benchmarks.md renders no result"
    tampered = text.replace(block["body"], block["body"].replace("|", "| 1", 1), 1)
    assert tampered != text and render.render(tampered) == text  # the file's table comes back
    (tmp_path / "benchmarks.md").write_text(tampered)
    result = run([sys.executable, "bench/render.py", "--check", str(tmp_path / "benchmarks.md")])
    assert result.returncode == 1 and "benchmarks.md" in result.stderr, result.stderr
    assert (tmp_path / "benchmarks.md").read_text() == tampered  # --check writes nothing
    assert_ok(run([sys.executable, "bench/render.py", "--check"]))  # the docs are up to date


def test_the_readme_is_a_short_page_that_trains_before_it_tests():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    train, tests = readme.index("ppo.py --env ArmReach-v0"), readme.index("-m pytest")
    assert train < tests
    ci = (REPO / ".ci" / "run").read_text()
    test_command = re.search(r"^(.*-m pytest.*)$", readme, re.M)[1].strip()
    assert test_command in ci, "CI must run the README's test command"


def test_mkdocs_builds_strict(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.fail("mkdocs is missing: pip install -r requirements-dev.txt")
    result = run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")])
    assert_ok(result)


def test_headline_sets_this_projects_evaluation_at_the_comparisons_budget():
    runs = [{"evals": [[182000, 0.5], [202000, 0.9], [222000, 1.0]]},
            {"evals": [[182000, 0.1], [202000, 0.7]]}, {"evals": [[202000, 0.8]]}]  # fmt: skip
    at_202k = "this project's evaluation at 202k: 0.80 (0.70-0.90)"
    assert render.evaluation_at(runs, 200000) == at_202k
    assert "no evaluation at 210k" in render.evaluation_at(runs, 210000)  # the second run ended
