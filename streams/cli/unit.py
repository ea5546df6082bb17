"""Commands of a prison intelligence unit: ``intelshare submit``, ``status`` and ``recall``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from streams.cli.common import Commands, read_text
from streams.core.fields import show
from streams.core.times import format_time
from streams.errors import FieldProblem, ReportInvalidError, StixMappingError
from streams.i18n import _, localise, msg, ngettext
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.kafka.submit import Candidate
    from streams.kafka.tracking import ReportStatus

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Declare the unit's commands."""
    submit = commands.add_parser("submit", help=_("validate and send reports"))
    submit.add_argument("file", metavar="FILE|-", help=_("JSON object, array or JSON lines"))
    submit.add_argument(
        "--format", choices=("json", "stix21"), default="json",
        help=_("json: intelshare reports (default); stix21: STIX 2.1 bundles in intelshare's "
        "mapping (one, an array, or one per line, as `consume --format stix21` prints them)"),
    )  # fmt: skip
    submit.set_defaults(handler=submit_reports)
    status = commands.add_parser("status", help=_("what became of a submitted report"))
    status.add_argument("event_id", metavar="EVENT_ID", help=_("the event id `submit` printed"))
    status.add_argument("--json", action="store_true", help=_("one JSON object"))
    status.set_defaults(handler=report_state)
    recall = commands.add_parser("recall", help=_("recall a report the unit submitted"))
    recall.add_argument("event_id", metavar="EVENT_ID", help=_("the event id `submit` printed"))
    recall.add_argument("--reason", required=True, help=_("why (sent to every recipient)"))
    recall.add_argument(
        "--unit", help=_("the unit recalling (the report's own unit_id); on a secure broker "
        "default: the user name, on the local plaintext broker: the report's unit"),
    )  # fmt: skip
    recall.set_defaults(handler=recall_report)


def recall_report(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare recall EVENT_ID --reason TEXT [--unit ID]``: exit 1 when the request is
    malformed or (on the plaintext broker, where the command can look) the report is unknown
    or another unit's; the exchange checks again and refuses what this cannot see."""
    from streams.core.notices import request
    from streams.errors import NoticeRefusedError
    from streams.kafka.submit import Submitter
    from streams.kafka.tls import user_of
    from streams.kafka.tracking import report_unit

    request("recall", args.event_id, args.unit or "UNIT", datetime.now(UTC), reason=args.reason)
    event_id = args.event_id.lower()
    if settings.security_protocol == "PLAINTEXT":
        owner = report_unit(settings, event_id)
        if owner is None:
            raise NoticeRefusedError(
                msg(
                    "recall refused: no report with event id {event_id} has reached the "
                    "exchange; check it with `intelshare status {event_id}`",
                    event_id=event_id,
                )
            )
        if args.unit is not None and args.unit != owner:
            raise NoticeRefusedError(
                msg(
                    "recall refused: report {event_id} was submitted by unit {owner}, not "
                    "{unit}; a unit may recall only its own reports",
                    event_id=event_id,
                    owner=owner,
                    unit=args.unit,
                )
            )
        unit_id = owner
    else:  # the unit cannot read the exchange's topics: the exchange checks it
        unit_id = args.unit or user_of(settings)
    with Submitter(settings) as submitter:
        submitter.recall(event_id, unit_id, args.reason)
    print(_("recall of {event_id} sent", event_id=event_id), flush=True)
    print(
        _(
            "each agency that received the report gets a recall notice, and it is disclosed to "
            "no one again"
        ),
        file=sys.stderr,
    )
    return 0


def submit_reports(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare submit FILE|-``: validate all, send the valid ones, print each sent id."""
    from streams.kafka.submit import Submitter, read_reports

    text = read_text(args.file)
    candidates = read_reports(text, max_bytes=settings.max_report_bytes)
    unmapped: list[ReportInvalidError] = []
    if args.format == "stix21":
        candidates = _from_bundles(candidates, unmapped)
    with Submitter(settings) as submitter:
        result = submitter.submit(candidates, on_sent=lambda event_id: print(event_id, flush=True))
    result = result._replace(rejected=[*unmapped, *result.rejected])
    for rejection in result.rejected:
        for problem in rejection.problems:
            text = _(
                "rejected {label}: {field}: {reason}",
                label=localise(rejection.label),
                field=problem.field,
                reason=localise(problem.reason),
            )
            print(text, file=sys.stderr)
    for event_id in result.repeated:
        text = _("repeated {event_id}: identical report given twice, sent once", event_id=event_id)
        print(text, file=sys.stderr)
    sent, rejected, repeated = len(result.sent), len(result.rejected), len(result.repeated)
    summary = _(
        "{sent} sent, {rejected} rejected, {repeated} repeated",
        sent=sent,
        rejected=rejected,
        repeated=repeated,
    )
    print(summary, file=sys.stderr)
    if not result.sent and not result.rejected:
        print(_("no reports in the input"), file=sys.stderr)
        return 1
    return 1 if result.rejected else 0


def _from_bundles(
    bundles: Iterable[Candidate], unmapped: list[ReportInvalidError]
) -> Iterator[Candidate]:
    """The reports of each STIX bundle; a bundle the mapping cannot carry goes to ``unmapped``
    (its problems name each object id and property), and none of its reports is sent."""
    from streams.formats.stix_import import reports_from_bundle  # stix2 loads slowly
    from streams.kafka.submit import Candidate

    for bundle in bundles:
        label = bundle.label.replace("report", "bundle")
        if bundle.problem is not None:
            unmapped.append(
                ReportInvalidError([FieldProblem("bundle", bundle.problem)], label=label)
            )
            continue
        try:
            reports = reports_from_bundle(bundle.value, label)
        except StixMappingError as exc:
            unmapped.append(exc)
            continue
        for name, report in reports:
            yield Candidate(name, report, None)


def report_state(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare status EVENT_ID [--json]``: exit 0 when the exchange has seen the report,
    1 when it has not (a mistyped id, or not submitted to this exchange)."""
    from streams.kafka.tracking import report_status

    status = report_status(settings, args.event_id)
    if not status.found:
        print(
            _(
                "no report {event_id} reached this exchange: check the id `submit` printed, "
                "and that KAFKA_BOOTSTRAP_SERVERS and INTELSHARE_TOPIC_PREFIX are its",
                event_id=show(args.event_id, 60),
            ),
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(status.as_json(), ensure_ascii=False))
    else:
        for label, text in describe(status):
            print(f"{label:<14}{text}")
    return 0


def describe(status: ReportStatus) -> list[tuple[str, str]]:
    """The report's story, one labelled line per fact, as a unit reads it."""
    lines = [(_("event"), status.event_id)]
    times = status.submitted
    if times:
        first = format_time(times[0])
        if times[1:] and not status.dead_letters:
            text = ngettext(
                "{n} time, first {time}, the repeats dropped as replays",
                "{n} times, first {time}, the repeats dropped as replays",
                len(times),
                time=first,
            )
        else:
            text = ngettext(
                "{n} time, first {time}", "{n} times, first {time}", len(times), time=first
            )
        lines.append((_("submitted"), text))
    for letter in status.dead_letters:
        state = _("replayed") if letter["state"] == "replayed" else _("not replayed")
        text = f"{letter['failed_at']} {letter['error']}: {letter['reason']} ({state})"
        lines.append((_("dead letter"), text))
    if status.accepted_at is None:
        if not status.dead_letters:
            lines.append((_("not yet"), _("validated: the exchange's worker has not processed it")))
        return lines
    accepted = _("{time}, validated and enriched", time=format_time(status.accepted_at))
    lines.append((_("accepted"), accepted))
    if status.duplicate_of:
        text = _("{event_id}: same content, not disclosed again", event_id=status.duplicate_of)
        lines.append((_("duplicate of"), text))
    if status.correlated_with:
        lines.append((_("correlated"), ", ".join(status.correlated_with)))
    agreements = sorted(
        {f"{d['agreement_id']} v{d['agreement_version']}" for d in status.disclosures}
    )
    agencies = len({d["recipient"] for d in status.disclosures})
    if status.disclosures:
        text = ngettext(
            "to {n} agency under {agreements}",
            "to {n} agencies under {agreements}",
            agencies,
            agreements=", ".join(agreements),
        )
        lines.append((_("disclosed"), text))
    elif not status.duplicate_of:
        lines.append((_("not disclosed"), _("no active agreement covers it")))
    return lines
