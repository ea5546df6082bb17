"""The ``intelshare`` command line: parses arguments, builds the settings, calls the core.

Exit codes: 0 success, 1 the command ran and found a problem (e.g. rejected reports),
2 usage, configuration or connection error, with a message that says what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from streams.errors import ConfigError, IntelshareError
from streams.log import configure_logging
from streams.settings import Settings

__all__ = ["main"]

Handler = Callable[[Settings, argparse.Namespace], int]


def _broker_start(settings: Settings, args: argparse.Namespace) -> int:
    from ops import broker

    print(broker.start(settings))
    return 0


def _broker_stop(settings: Settings, args: argparse.Namespace) -> int:
    from ops import broker

    stopped = broker.stop(settings)
    print("stopped" if stopped else "not running")
    return 0


def _broker_status(settings: Settings, args: argparse.Namespace) -> int:
    from ops import broker

    state = broker.status(settings)
    word = (
        "running"
        if state.running and state.answering
        else "not answering"
        if state.running
        else "stopped"
    )
    print(f"{word} {state.bootstrap} pid={state.pid or '-'} {state.detail}".rstrip())
    return 0 if state.running and state.answering else 1


def _topics_create(settings: Settings, args: argparse.Namespace) -> int:
    from streams.clients import create_topics
    from streams.topics import CATALOGUE

    problems = 0
    for outcome in create_topics(settings, CATALOGUE):
        state = "created" if outcome.created else "exists"
        print(f"{outcome.name}\t{state}\tpartitions={outcome.partitions}")
        if outcome.problem:
            problems += 1
            print(f"{outcome.name}: {outcome.problem}", file=sys.stderr)
    return 1 if problems else 0


def _submit(settings: Settings, args: argparse.Namespace) -> int:
    from streams.submit import Submitter, read_reports

    text = _read_input(args.file, limit=settings.max_report_bytes * 4096)
    with Submitter(settings) as submitter:
        result = submitter.submit(
            read_reports(text, max_bytes=settings.max_report_bytes),
            on_sent=lambda event_id: print(event_id, flush=True),
        )
    for rejection in result.rejected:
        for problem in rejection.problems:
            print(f"rejected {rejection.label}: {problem.field}: {problem.reason}", file=sys.stderr)
    for event_id in result.repeated:
        print(f"repeated {event_id}: identical report given twice, sent once", file=sys.stderr)
    sent, rejected, repeated = len(result.sent), len(result.rejected), len(result.repeated)
    print(f"{sent} sent, {rejected} rejected, {repeated} repeated", file=sys.stderr)
    if not result.sent and not result.rejected:
        print("no reports in the input", file=sys.stderr)
        return 1
    return 1 if result.rejected else 0


def _read_input(name: str, *, limit: int) -> str:
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror}") from exc
    if len(data) > limit:
        raise ConfigError(f"{name} is over {limit} bytes; split it into smaller files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="intelshare",
        description="Share prison intelligence under written agreements, on Apache Kafka.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    broker = commands.add_parser("broker", help="the local Kafka broker (ops/)")
    broker_actions = broker.add_subparsers(dest="action", required=True, metavar="ACTION")
    broker_actions.add_parser("start", help="assemble if needed, start, wait until it answers")
    broker_actions.add_parser("stop", help="stop cleanly")
    broker_actions.add_parser("status", help="running or not, and whether it answers")

    topics = commands.add_parser("topics", help="the topic catalogue")
    topic_actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    topic_actions.add_parser("create", help="create every topic of the catalogue (idempotent)")

    submit = commands.add_parser("submit", help="validate and send reports")
    submit.add_argument(
        "file", metavar="FILE|-", help="JSON object, array or JSON lines; - for stdin"
    )
    return parser


_HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("broker", "start"): _broker_start,
    ("broker", "stop"): _broker_stop,
    ("broker", "status"): _broker_status,
    ("topics", "create"): _topics_create,
    ("submit", None): _submit,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``intelshare`` console script."""
    args = build_parser().parse_args(argv)
    handler = _HANDLERS[(args.command, getattr(args, "action", None))]
    try:
        settings = Settings.load()
        configure_logging(settings.log_level)
        return handler(settings, args)
    except IntelshareError as exc:
        print(f"intelshare: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
