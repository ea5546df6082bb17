"""The README's commands are the code's: each `intelshare ...` line names a real command with
real options, and the set-up commands leave `intelshare` where the README says it is."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

import pytest

from streams.cli import build_parser
from streams.settings import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def _code_lines() -> list[str]:
    """Every line of the README's ```sh blocks."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        lines.extend(line.strip() for line in block.splitlines() if line.strip())
    return lines


def _commands() -> list[str]:
    """The ``intelshare ...`` part of each code line, comments dropped."""
    found = []
    for line in _code_lines():
        line = line.split("#", 1)[0].strip()
        if "intelshare " in line and not line.startswith("export "):
            found.append(line[line.index("intelshare ") :])
    return found


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


COMMANDS = _commands()


def test_the_readme_shows_commands() -> None:
    """The check below has something to check."""
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("command", COMMANDS)
def test_each_readme_command_exists_with_its_options(command: str) -> None:
    """The command, its action and every --option it shows are the CLI's."""
    words = shlex.split(command.replace("[", " ").replace("]", " "))[1:]
    parser = build_parser()
    name = words.pop(0)
    commands = _subparsers(parser)
    assert name in commands, f"no command {name!r}"
    current = commands[name]
    actions = _subparsers(current)
    if actions:
        wanted = words.pop(0)
        for action in wanted.split("|"):  # e.g. start|stop|status
            assert action in actions, f"no action {name} {action}"
        current = actions[wanted.split("|")[0]]
    for word in words:
        if word.startswith("--"):
            assert word.split("=")[0] in _options(current), f"{name}: no option {word}"


def test_the_command_is_where_the_readme_puts_it_on_the_path() -> None:
    """Set-up installs `intelshare` beside this Python, in .venv/bin, and the README says to
    activate that folder before its first `intelshare` command."""
    assert (Path(sys.executable).parent / "intelshare").is_file()
    first_command = README.index("intelshare submit ")
    assert 0 < README.index("source .venv/bin/activate") < first_command


def test_every_setting_is_in_the_readme() -> None:
    """Each field of Settings is documented under its environment variable."""
    import dataclasses

    from streams.settings import Settings

    for field in dataclasses.fields(Settings):
        name = "KAFKA_BOOTSTRAP_SERVERS" if field.name == "bootstrap_servers" else None
        assert (name or f"INTELSHARE_{field.name.upper()}") in README, field.name
