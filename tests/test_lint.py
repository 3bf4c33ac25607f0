"""The code style is part of the product: ruff's lint and format checks, configured in pyproject."""

import sys

import pytest

from tests.helpers import run

pytestmark = pytest.mark.fast


def test_ruff_check_finds_nothing():
    result = run([sys.executable, "-m", "ruff", "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_unchanged():
    result = run([sys.executable, "-m", "ruff", "format", "--check", "."])
    assert result.returncode == 0, result.stdout + result.stderr
