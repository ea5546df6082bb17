"""Commands of a prison intelligence unit: ``intelshare submit``."""

from __future__ import annotations

import argparse
import sys

from streams.cli.common import Commands, read_text
from streams.kafka.submit import Submitter, read_reports
from streams.settings import Settings

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Declare the unit's commands."""
    submit = commands.add_parser("submit", help="validate and send reports")
    submit.add_argument("file", metavar="FILE|-", help="JSON object, array or JSON lines")
    submit.set_defaults(handler=submit_reports)


def submit_reports(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare submit FILE|-``: validate all, send the valid ones, print each sent id."""
    text = read_text(args.file)
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
