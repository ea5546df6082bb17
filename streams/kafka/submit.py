"""Submitting reports: reading the JSON forms ``intelshare submit`` accepts, and the producer API.

A file holds one JSON object, a JSON array of objects, or JSON lines. Every report is validated
and encoded before anything is sent; valid ones go to ``intel.submissions`` keyed by ``event_id``
with an idempotent producer (acks=all). Rejected ones are returned with every field at fault and
never reach the topic.

On a secure broker every message also carries the unit's signature headers
(:func:`streams.core.submission.sign_submission`, with the key of ``Settings.unit_key_path``): the
exchange accepts a report only from a registered unit user allowed to speak for its ``unit_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple, Self

import kafka.errors
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.core.codec import Codec
from streams.core.inputs import load_json
from streams.core.keyfiles import load_ed25519_private
from streams.core.notices import request
from streams.core.report import validate_report
from streams.core.schemas import SchemaSet
from streams.core.submission import sign_submission
from streams.errors import (
    ConfigError,
    FieldProblem,
    IntelshareError,
    KeyFileError,
    MalformedInputError,
    NoticeInvalidError,
    ReportInvalidError,
    TopicMissingError,
)
from streams.i18n import Message, msg
from streams.kafka.clients import producer, translate_errors
from streams.kafka.tls import user_of
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["Candidate", "Prepared", "SubmitResult", "Submitter", "read_reports"]

log = structlog.get_logger(__name__)


class Candidate(NamedTuple):
    """One report as read from the input, before validation."""

    label: str
    """Where it came from, e.g. ``line 3`` or ``item 2``."""
    value: Any
    """The parsed JSON value, or None when ``problem`` is set."""
    problem: str | None
    """Why the input could not even be read as JSON."""


def read_reports(text: str, *, max_bytes: int) -> Iterator[Candidate]:
    """Split ``text`` into candidate reports: one object, an array, or JSON lines."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as some editors write
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped[0] == "[":
        try:
            items = load_json(stripped)
        except MalformedInputError as exc:
            yield Candidate(msg("input"), None, _reason(exc))
            return
        if not isinstance(items, list):
            yield Candidate(msg("input"), None, msg("not a JSON array of reports"))
            return
        for i, item in enumerate(items, 1):
            yield Candidate(msg("item {number}", number=i), item, None)
        return
    try:
        yield Candidate(msg("report"), load_json(stripped), None)
        return
    except MalformedInputError as exc:
        # a pretty-printed object (or a one-line input) gets one error, where it is; anything
        # else is JSON lines, each line read and named on its own
        if _one_document(stripped) or len(stripped.splitlines()) == 1:
            yield Candidate(msg("report"), None, _reason(exc))
            return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label = msg("line {number}", number=number)
        if len(line) > 16 * max_bytes:
            yield Candidate(
                label, None, msg("is {count} characters; far over the limit", count=len(line))
            )
            continue
        try:
            yield Candidate(label, load_json(line), None)
        except MalformedInputError as exc:
            yield Candidate(label, None, _reason(exc))


def _reason(exc: MalformedInputError) -> str:
    """The error's message, kept translatable when it is one."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, Message) else str(exc)


def _one_document(text: str) -> bool:
    """Whether ``text`` is meant as one JSON object over several lines (its first line opens
    it and does not close it), rather than JSON lines."""
    first = text.splitlines()[0].strip()
    return first.startswith("{") and not first.endswith("}")


class Prepared(NamedTuple):
    """A validated, encoded report ready to send."""

    event_id: str
    """The report's idempotency key, also the message key."""
    value: bytes
    """Avro single-object encoding of the report."""
    corrects: str | None = None
    """The event id of the earlier report this one corrects (``corrects`` in its JSON form)."""
    notice: bytes | None = None
    """For a correction: the encoded correction request, sent keyed by ``corrects``."""


class SubmitResult(NamedTuple):
    """What one submission did."""

    sent: list[str]
    """Event ids the broker acknowledged, in input order."""
    rejected: list[ReportInvalidError]
    """Reports that failed validation; none of them was sent."""
    repeated: list[str]
    """Event ids repeated with identical content in the same input; each sent once."""


class Submitter:
    """Producer API for prison intelligence units.

    ``with Submitter(settings) as s: result = s.submit(candidates)``. ``clock`` returns the
    current time (timezone-aware); tests pass a fixed one. On a secure broker the unit's
    submission key is loaded here, so a missing one fails before anything is read or sent.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        schemas: SchemaSet | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.topic = Topics(settings.topic_prefix).submissions
        schemas = schemas or SchemaSet.from_directory(settings.schemas_dir)
        self.codec = Codec(schemas, "intelshare.Report")
        self.notices = Codec(schemas, "intelshare.ReportNotice")
        self.clock = clock
        self._producer: Any = None
        self._key = _submission_key(settings)

    def prepare(self, candidate: Candidate) -> Prepared:
        """Validate and encode one report, or raise ReportInvalidError."""
        if candidate.problem is not None:
            raise ReportInvalidError(
                [FieldProblem("report", candidate.problem)], label=candidate.label
            )
        value_in, corrects = candidate.value, None
        if isinstance(value_in, dict) and "corrects" in value_in:
            value_in = dict(value_in)
            corrects = value_in.pop("corrects")
        record = validate_report(value_in, now=self.clock(), label=candidate.label)
        value = self.codec.encode(record)
        if len(value) > self.settings.max_report_bytes:
            raise ReportInvalidError(
                [
                    FieldProblem(
                        "report",
                        msg(
                            "is {size} bytes encoded, over the limit of {limit}; split it or "
                            "shorten the narrative",
                            size=len(value),
                            limit=self.settings.max_report_bytes,
                        ),
                    )
                ],
                label=candidate.label,
            )
        if corrects is None:
            return Prepared(record["event_id"], value)
        try:
            notice = request(
                "correction", corrects, record["unit_id"], self.clock(),
                corrected_by=record["event_id"],
            )  # fmt: skip
        except NoticeInvalidError as exc:
            raise ReportInvalidError(exc.problems, label=candidate.label) from None
        return Prepared(record["event_id"], value, notice["event_id"], self.notices.encode(notice))

    def recall(self, event_id: str, unit_id: str, reason: str) -> str:
        """Send a recall request for one of the unit's reports (NoticeInvalidError when the
        request is malformed); the exchange answers it (:mod:`streams.core.notices`)."""
        notice = request("recall", event_id, unit_id, self.clock(), reason=reason)
        value = self.notices.encode(notice)
        client = self._connect()
        with translate_errors(self.settings, msg("sending to {topic}", topic=self.topic)):
            key = notice["event_id"].encode()
            future = client.send(self.topic, key=key, value=value, headers=self.headers(value))
            client.flush(timeout=self.settings.request_timeout * 4)
            future.get(timeout=self.settings.request_timeout)
        log.info("recall_sent")
        return str(notice["event_id"])

    def submit(
        self, candidates: Iterable[Candidate], on_sent: Callable[[str], None] | None = None
    ) -> SubmitResult:
        """Validate all, then send the valid ones and wait until the broker has them."""
        prepared: dict[str, Prepared] = {}
        rejected: list[ReportInvalidError] = []
        repeated: list[str] = []
        for candidate in candidates:
            try:
                report = self.prepare(candidate)
            except ReportInvalidError as exc:
                rejected.append(exc)
                continue
            earlier = prepared.get(report.event_id)
            if earlier is None:
                prepared[report.event_id] = report
            elif earlier.value == report.value:
                repeated.append(report.event_id)
            else:
                problem = FieldProblem(
                    "event_id", msg("is used for a different report earlier in the input")
                )
                rejected.append(ReportInvalidError([problem], label=candidate.label))
        sent = self._send(list(prepared.values()), on_sent) if prepared else []
        log.info("submitted", sent=len(sent), rejected=len(rejected), repeated=len(repeated))
        return SubmitResult(sent, rejected, repeated)

    def _send(self, reports: list[Prepared], on_sent: Callable[[str], None] | None) -> list[str]:
        client = self._connect()
        with translate_errors(self.settings, msg("sending to {topic}", topic=self.topic)):
            futures = [
                (
                    r.event_id,
                    client.send(
                        self.topic,
                        key=r.event_id.encode(),
                        value=r.value,
                        headers=self.headers(r.value),
                    ),
                )
                for r in reports
            ]
            client.flush(timeout=self.settings.request_timeout * 4)
            sent = []
            for event_id, future in futures:
                future.get(timeout=self.settings.request_timeout)
                sent.append(event_id)
                if on_sent is not None:
                    on_sent(event_id)
            corrections = [  # after the corrections themselves, so they are on the topic first
                client.send(self.topic, key=r.corrects.encode(), value=r.notice,
                            headers=self.headers(r.notice))
                for r in reports
                if r.corrects is not None and r.notice is not None
            ]  # fmt: skip
            client.flush(timeout=self.settings.request_timeout * 4)
            for future in corrections:
                future.get(timeout=self.settings.request_timeout)
        return sent

    def headers(self, value: bytes) -> list[tuple[str, bytes]] | None:
        """The headers a message of ``value`` carries: the unit's signature on a secure
        broker, none in PLAINTEXT mode."""
        if self._key is None:
            return None
        return sign_submission(value, user_of(self.settings), self._key)

    def _connect(self) -> Any:
        if self._producer is None:
            self._producer = producer(self.settings)
            try:
                self._producer.partitions_for(self.topic)
            except kafka.errors.KafkaTimeoutError as exc:
                self.close()
                raise TopicMissingError(
                    msg(
                        "topic {topic} does not exist at {bootstrap_servers}; run `intelshare "
                        "topics create`",
                        topic=self.topic,
                        bootstrap_servers=self.settings.bootstrap_servers,
                    )
                ) from exc
            except kafka.errors.KafkaError as exc:
                self.close()
                raise IntelshareError(
                    msg("cannot look up {topic}: {exc}", topic=self.topic, exc=exc)
                ) from exc
        return self._producer

    def close(self) -> None:
        """Flush and close the producer; idempotent."""
        if self._producer is not None:
            client, self._producer = self._producer, None
            client.close(timeout=self.settings.request_timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _submission_key(settings: Settings) -> Ed25519PrivateKey | None:
    """The unit's submission key on a secure broker; None in PLAINTEXT mode."""
    if settings.security_protocol == "PLAINTEXT":
        return None
    user = user_of(settings)
    if not user:
        raise ConfigError(
            msg(
                "{security_protocol} needs INTELSHARE_SASL_USERNAME",
                security_protocol=settings.security_protocol,
            )
        )
    path = settings.unit_key_path
    if settings.unit_key_file is None and user != settings.sasl_username:  # a certificate user
        path = settings.users_dir / f"{user}.sign.key"
    try:
        return load_ed25519_private(path)
    except KeyFileError as exc:
        if path.exists() or path.is_symlink():
            raise
        raise KeyFileError(
            msg(
                "no submission key {path}: on a secure broker every report is signed with the "
                "unit's key. The exchange's operators create it with `intelshare users add --role "
                "unit {user} --unit UNIT_ID`; or set INTELSHARE_UNIT_KEY_FILE to where it is",
                path=path,
                user=user,
            )
        ) from exc
