"""A mistake in making an environment, said in one line: an unknown keyword with the env's own
keywords, a value of the wrong type, a value the env refuses, a package the env needs."""

from __future__ import annotations

import ast
import difflib
import inspect
import re

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

import envs  # noqa: F401  (registers the ArmReach envs)

# Keywords gym.make takes itself, for every env.
MAKE_KEYWORDS = ("max_episode_steps", "autoreset", "apply_api_compatibility", "disable_env_checker")
_MADE_WITH = re.compile(r"environment creator for (\S+) with kwargs \((\{.*\})\)")
_UNEXPECTED = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def env_keywords(env_id: str) -> dict[str, inspect.Parameter] | None:
    """The keyword arguments env_id's constructor takes, or None when it takes any (**kwargs)."""
    entry_point = gym.spec(env_id).entry_point
    try:
        creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
        params = inspect.signature(creator).parameters
    except Exception:  # a package it needs is missing (gym.make says so), or an odd callable
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name: p for name, p in params.items() if p.kind in kinds and name != "self"}


def unknown_keyword(env_id: str, key: str, keywords: dict) -> str:
    close = difflib.get_close_matches(key, list(keywords), n=1)
    return (
        f"{env_id} takes no keyword {key!r}"
        + (f" (did you mean {close[0]}?)" if close else "")
        + f"; its keywords: {', '.join(keywords) or 'none'}."
    )


def fits(value, default) -> bool:
    """Does value have the type of a parameter whose default is `default`?"""
    if default is inspect.Parameter.empty or default is None:
        return True  # no default to go by
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, tuple | list):
        return isinstance(value, tuple | list)
    return True


def check_env_kwargs(env_id: str, env_kwargs: dict) -> None:
    """ValueError, in one line, for a keyword env_id does not take or a value of the wrong type."""
    keywords = env_keywords(env_id)
    if keywords is None:
        return
    for key, value in env_kwargs.items():
        if key in MAKE_KEYWORDS:
            continue
        if key not in keywords:
            raise ValueError(unknown_keyword(env_id, key, keywords))
        default = keywords[key].default
        if not fits(value, default):
            raise ValueError(
                f"{key}={value!r} is a {type(value).__name__}, but {env_id} wants a "
                f"{type(default).__name__} (its default: {default!r})."
            )


def explain(error: Exception) -> str | None:
    """One line for an exception raised while making an env, or None if it is not such a
    mistake (then it is a bug to show in full)."""
    if isinstance(error, gym.error.DependencyNotInstalled):
        return f"the environment needs a package that is not installed: {error}"
    if isinstance(error, ModuleNotFoundError) and error.name:
        return (
            f"the environment needs the module {error.name!r}, which is not installed: "
            f"pip install the package that provides it."
        )
    if isinstance(error, TypeError) and (match := _UNEXPECTED.search(str(error))):
        # Which registered env has that class? Then its keywords can be listed.
        for env_id, spec in gym.registry.items():
            entry = spec.entry_point
            if isinstance(entry, str) and entry.endswith(f":{match[1]}"):
                keywords = env_keywords(env_id)
                if keywords is not None:
                    return unknown_keyword(env_id, match[2], keywords)
    if isinstance(error, TypeError) and (made := _MADE_WITH.search(str(error))):
        # Gymnasium names the env and its kwargs: say which value has the wrong type.
        try:
            check_env_kwargs(made[1], ast.literal_eval(made[2]))
        except ValueError as wrong:
            return str(wrong)
        except Exception:  # kwargs that do not read back: the message as it is, below
            pass
    if isinstance(error, TypeError):  # making an env, almost always an argument of a wrong type
        return f"{error} (check the env's keyword arguments)"
    if isinstance(error, ValueError | gym.error.Error):
        return str(error)
    return None


def make_env(env_fn):
    """env_fn(), with a mistake in making the env raised as a ValueError of one line."""
    try:
        return env_fn()
    except Exception as e:
        message = explain(e)
        if message is None:
            raise
        raise ValueError(f"the environment could not be made: {message}") from None


def check_env(env_id: str, env_kwargs: dict) -> None:
    """Make the env once and close it: every mistake in its keywords shows here as a ValueError
    of one line, before any training starts."""
    check_env_kwargs(env_id, env_kwargs)
    try:
        env = gym.make(env_id, **env_kwargs)
    except Exception as e:
        message = explain(e)
        if message is None:
            raise
        raise ValueError(f"--env {env_id}: {message}") from None
    env.close()
