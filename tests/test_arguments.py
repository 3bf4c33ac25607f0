"""ppo()'s arguments, declared once in utils/arguments.py: the signature, help(ppo.ppo), the flags,
the checks and the resume rules all come from that one declaration."""

import inspect
import subprocess
import sys

import gymnasium as gym
import pytest

import ppo
from tests.helpers import REPO
from utils.arguments import ARGUMENTS, FREE, MATCH, defaults, names
from utils.cli import build_parser

pytestmark = pytest.mark.fast


def test_the_signature_and_help_list_every_argument_with_its_default_and_doc():
    parameters = inspect.signature(ppo.ppo).parameters
    assert list(parameters) == ["env_fn", *ARGUMENTS]
    assert {name: p.default for name, p in list(parameters.items())[1:]} == defaults()
    doc = " ".join(ppo.ppo.__doc__.split())  # the docstring's lines joined
    for name, f in ARGUMENTS.items():
        assert f"{name} ({f.type}): {' '.join(f.metadata['doc'].split())}" in doc, name


def test_every_flag_is_an_argument_with_its_default_and_doc():
    parser, flags = build_parser()
    assert flags == [name for name, f in ARGUMENTS.items() if f.metadata["flag"]]
    actions = {action.dest: action for action in parser._actions}
    for name in flags:
        assert actions[name].default == defaults()[name]
        assert actions[name].help == ARGUMENTS[name].metadata["doc"]
        assert f"--{name}" in actions[name].option_strings


def test_the_resume_rules_come_from_the_declaration():
    assert {"steps_per_epoch", "num_envs", "privileged_critic", "state_loss_coef"} <= set(
        names(MATCH)
    )
    assert {"epochs", "resume", "quiet"} <= set(names(FREE))
    assert "pi_lr" not in names(MATCH) + names(FREE)  # a change of it is recorded


def test_a_misspelled_argument_is_one_line_that_names_the_close_one():
    with pytest.raises(
        ValueError, match=r"ppo\(\) takes no argument 'epoch' \(did you mean epochs\?\)"
    ):
        ppo.ppo(lambda: gym.make("CartPole-v1"), epoch=3)


def test_the_launcher_reads_the_arguments_without_importing_torch():
    code = (
        "import sys; from utils.cli import build_parser; build_parser(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
