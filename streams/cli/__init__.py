"""The ``intelshare`` command line: one module per audience of the README, each declaring its
commands' options beside their handlers; this module only assembles them and runs one.

Exit codes: 0 success, 1 the command ran and found a problem (e.g. rejected reports),
2 usage, configuration or connection error, with a message that says what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streams.cli import agency, operator, oversight, unit
from streams.errors import IntelshareError
from streams.i18n import _, localise
from streams.log import configure_logging
from streams.settings import Settings

__all__ = ["build_parser", "main"]

AUDIENCES = (unit, agency, oversight, operator)
"""Modules with a ``register(commands)``; a new command is declared in one of them."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="intelshare",
        description=_("Share prison intelligence under written agreements, on Apache Kafka."),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for audience in AUDIENCES:
        audience.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``intelshare`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load()
        configure_logging(settings.log_level)
        code: int = args.handler(settings, args)
        return code
    except IntelshareError as exc:
        print(f"intelshare: {localise(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
