"""Command-line flags generated from a function's signature and docstring.

Every argument of ppo() with a number, string or boolean default becomes a flag of the same name
(`--pi_lr`, with the alias `--pi-lr`), typed and defaulted by the signature and documented by the
docstring, so a flag can never drift from the function it sets.
"""

from __future__ import annotations

import argparse
import inspect
import re

# "    name (type): description" at the first indentation level of an "Args:" section.
_ARG_LINE = re.compile(r"^(?P<indent>\s+)(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$")


def docstring_arguments(fn) -> dict[str, str]:
    """The first sentence of each argument's entry in fn's docstring, by argument name."""
    doc = inspect.getdoc(fn) or ""
    lines = doc.split("Args:", 1)[-1].splitlines()
    entries: dict[str, list[str]] = {}
    current, indent = None, None
    for line in lines:
        match = _ARG_LINE.match(line)
        if match and (indent is None or len(match["indent"]) == indent):
            indent = len(match["indent"])
            current = match["name"]
            entries[current] = [match["text"]]
        elif current is not None and line.strip():
            entries[current].append(line.strip())
    return {name: _first_sentence(" ".join(text)) for name, text in entries.items()}


def _first_sentence(text: str) -> str:
    end = re.search(r"\.(\s|$)", text)
    return text[: end.start() + 1] if end else text


def add_arguments_from_signature(
    parser: argparse.ArgumentParser,
    fn,
    skip: tuple[str, ...] = (),
    aliases: dict[str, list[str]] | None = None,
) -> list[str]:
    """Add a flag for each simple keyword argument of fn; return the names added.

    `aliases` adds further flags for an argument, e.g. Spinning Up's `--steps` for
    `steps_per_epoch`.
    """
    docs = docstring_arguments(fn)
    added = []
    for name, param in inspect.signature(fn).parameters.items():
        default = param.default
        if name in skip or default is inspect.Parameter.empty:
            continue
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        flags += (aliases or {}).get(name, [])
        help_text = docs.get(name, "")
        if isinstance(default, bool):
            parser.add_argument(
                *flags, default=default, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif isinstance(default, int | float | str):
            parser.add_argument(*flags, type=type(default), default=default, help=help_text)
        elif default is None:
            parser.add_argument(*flags, type=str, default=None, help=help_text)
        else:
            continue
        added.append(name)
    return added
