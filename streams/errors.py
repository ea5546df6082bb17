"""One exception tree for intelshare.

Callers branch on attributes, not on lists of types: ``exit_code`` is what the CLI exits with,
``dead_letter`` marks input that belongs in ``intel.deadletter`` rather than a crash, and
``retriable`` marks a failure that may pass if tried again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from streams.i18n import localise, msg

__all__ = [
    "AgencyConflictError",
    "AgencyInvalidError",
    "AgreementInvalidError",
    "AuthenticationFailedError",
    "BadRequestError",
    "BrokerError",
    "BrokerUnavailableError",
    "CertificateError",
    "ChainBrokenError",
    "ConfigError",
    "DecodeError",
    "DecryptionError",
    "EncodeError",
    "ErasureOrderError",
    "FeedbackInvalidError",
    "FeedbackRefusedError",
    "FieldProblem",
    "InconsistentLogError",
    "IntelshareError",
    "KeyFileError",
    "LocalServerError",
    "MalformedInputError",
    "NotAuthorisedError",
    "NotSingleObjectError",
    "NoticeInvalidError",
    "NoticeRefusedError",
    "OversightDatabaseError",
    "OversightDatabaseUnavailableError",
    "PipelineBehindError",
    "ReceiptInvalidError",
    "ReferenceInvalidError",
    "ReportInvalidError",
    "SchemaError",
    "SignatureError",
    "StixMappingError",
    "TLSHandshakeError",
    "TopicMissingError",
    "TruncatedRecordError",
    "UnitNotAuthorisedError",
    "UnknownAgencyError",
    "UnknownSchemaError",
]


class IntelshareError(Exception):
    """Root of every error intelshare raises on purpose."""

    exit_code: int = 2
    dead_letter: bool = False
    retriable: bool = False


class ConfigError(IntelshareError):
    """A setting is missing or malformed; the message names the setting and how to fix it."""


class MalformedInputError(IntelshareError):
    """JSON input that is not well-formed or breaks the input discipline
    (:mod:`streams.core.inputs`: duplicate keys, too deep, over-long numbers)."""


class ErasureOrderError(IntelshareError):
    """``intelshare erase`` was given a malformed subject id or reason (usage, exit 2); the
    message names the option and what is expected."""


class PipelineBehindError(IntelshareError):
    """``intelshare erase`` refused because an agent has not processed every report that was
    on its way when the order came (:mod:`streams.core.purge`): nothing was written or
    deleted; the message names the agent and topic. Retriable once the worker catches up."""

    exit_code = 1
    retriable = True


class FeedbackInvalidError(IntelshareError):
    """``intelshare feedback`` was given something it cannot send (usage, exit 2): a malformed
    disclosure id or note, a disclosure that is not on the agency's feed, a unit id that could
    not name a topic; the exchange dead-letters a malformed feedback record with it too."""

    dead_letter = True


class FeedbackRefusedError(IntelshareError):
    """The exchange refuses a feedback: the disclosure was not made to the agency that gives
    it, its signature does not verify under the agency's registered receipt key, the agency
    gave feedback on it already, or the originating unit has no registered key."""

    exit_code = 1
    dead_letter = True


class ReceiptInvalidError(IntelshareError):
    """The exchange refuses a consultation receipt on ``intel.receipts``: not a receipt, keyed
    by another disclosure id than its own, or not signed with its agency's registered receipt
    key. It becomes a dead letter and records no consultation."""

    dead_letter = True


class BadRequestError(IntelshareError):
    """A request to one of intelshare's HTTP servers has a malformed parameter; the message
    names it and what is expected."""

    exit_code = 1


class BrokerError(IntelshareError):
    """The local broker could not be assembled, started or stopped."""


class LocalServerError(IntelshareError):
    """A local server of ``ops/`` other than the broker (the throwaway PostgreSQL of the tests)
    could not be found, started or stopped; the message says what to install."""


class OversightDatabaseError(IntelshareError):
    """The oversight index's database cannot be used: ``INTELSHARE_OVERSIGHT_DB`` is not a
    ``postgresql://`` URL, or the database refused what the index asked. The message names the
    setting and never holds the URL's password."""


class OversightDatabaseUnavailableError(OversightDatabaseError):
    """No database answered at ``INTELSHARE_OVERSIGHT_DB`` (or it went away): retriable once it
    is up."""

    retriable = True


class BrokerUnavailableError(IntelshareError):
    """No Kafka broker answered at the configured bootstrap address."""

    retriable = True


class AuthenticationFailedError(IntelshareError):
    """The broker refused the SASL credentials (wrong user name or password)."""


class TLSHandshakeError(IntelshareError):
    """A TLS handshake with the broker failed (a CA it does not trust, an expired certificate,
    a host name the certificate does not name, or TLS on one side only); the message names the
    setting to fix. Nothing was sent over the failed connection."""


class CertificateError(IntelshareError):
    """A certificate or its key cannot be made, read or used; the message says what to do."""


class NotAuthorisedError(IntelshareError):
    """The broker's ACLs do not let this user do what was asked."""


class TopicMissingError(IntelshareError):
    """A topic of the catalogue does not exist on the broker."""


class SchemaError(IntelshareError):
    """A schema file in ``schemas/`` cannot be parsed or breaks compatibility."""


class EncodeError(IntelshareError):
    """A record does not fit its Avro schema (a bug: validation should have caught it)."""

    exit_code = 1


class DecodeError(IntelshareError):
    """Bytes could not be decoded as an intelshare Avro record."""

    exit_code = 1
    dead_letter = True


class NotSingleObjectError(DecodeError):
    """The bytes do not start with the Avro single-object marker ``C3 01``."""


class UnknownSchemaError(DecodeError):
    """The writer-schema fingerprint is not one of the schemas in ``schemas/``."""


class TruncatedRecordError(DecodeError):
    """The body ended before the record did, or bytes were left over after it."""


class FieldProblem(NamedTuple):
    """One reason a report is not acceptable."""

    field: str
    """Dotted path of the offending field, e.g. ``grading.source`` or ``subjects[0].role``."""
    reason: str
    """What is wrong, in words a unit's analyst can act on."""


class _FieldsRejectedError(IntelshareError):
    """Input rejected for the reasons in ``problems``, each naming its field; ``label`` names
    the input (``line 3``, ``agreement 2 (KZ-KNB-2026-01)``)."""

    exit_code = 1
    default_label = "input"

    def __init__(self, problems: Sequence[FieldProblem], *, label: str | None = None) -> None:
        self.problems = tuple(problems)
        self.label = label or self.default_label
        detail = "; ".join(f"{p.field}: {p.reason}" for p in self.problems)
        super().__init__(f"{self.label} rejected: {detail}")

    def localised(self, locale: str) -> str:
        """The message in ``locale``: the label and each reason translated, fields as they are."""
        detail = "; ".join(f"{p.field}: {localise(p.reason, locale)}" for p in self.problems)
        return localise(msg("{label} rejected: {detail}", label=self.label, detail=detail), locale)


class ReportInvalidError(_FieldsRejectedError):
    """A report failed validation; ``problems`` names every field at fault."""

    dead_letter = True
    default_label = "report"


class StixMappingError(ReportInvalidError):
    """A STIX 2.1 bundle given to ``submit --format stix21`` holds what intelshare's mapping
    cannot carry; each problem's ``field`` names the object id and its property. None of the
    bundle's reports is sent."""

    default_label = "bundle"


class AgreementInvalidError(_FieldsRejectedError):
    """An agreement file or record breaks the agreement format; ``problems`` names each field."""

    default_label = "agreement"


class AgencyInvalidError(_FieldsRejectedError):
    """``agencies register`` was given a malformed option (``--id``, ``--name``, ``--country``);
    ``problems`` names each option, the value given and what is expected. A usage error."""

    exit_code = 2
    default_label = "agency"


class AgencyConflictError(IntelshareError):
    """An agency is already registered with other details; ``--replace`` overwrites it."""

    exit_code = 1


class UnknownAgencyError(IntelshareError):
    """A command names an agency that is neither registered nor in the disclosure log."""

    exit_code = 1


class ReferenceInvalidError(IntelshareError):
    """A reference-data record (facility, subject, agency) is malformed: ``label`` names the
    line, ``problems`` each field at fault."""

    exit_code = 1
    dead_letter = True

    def __init__(self, label: str, problems: Sequence[FieldProblem]) -> None:
        self.label = label
        self.problems = tuple(problems)
        detail = "; ".join(f"{p.field}: {p.reason}" for p in self.problems)
        super().__init__(f"{label}: {detail}")

    def localised(self, locale: str) -> str:
        """The message in ``locale``: each reason translated, the label and fields as they are
        (the label is the line's, as ``reference load`` names it)."""
        detail = "; ".join(f"{p.field}: {localise(p.reason, locale)}" for p in self.problems)
        return f"{localise(self.label, locale)}: {detail}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.label, self.problems))


class NoticeInvalidError(_FieldsRejectedError):
    """A recall, correction or feedback request failed validation; ``problems`` names every
    field at fault."""

    dead_letter = True
    default_label = "request"


class NoticeRefusedError(IntelshareError):
    """The exchange refuses a recall, correction or feedback: the event is unknown to it, or the
    one asking did not submit (or receive) what it names; the message says which."""

    exit_code = 1
    dead_letter = True


class UnitNotAuthorisedError(IntelshareError):
    """A secure-mode submission is not proven to come from a unit allowed to speak for its
    ``unit_id``: ``field`` names the header or report field at fault and ``reason`` says why."""

    exit_code = 1
    dead_letter = True

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def localised(self, locale: str) -> str:
        """The message in ``locale``, the field as it is."""
        return f"{self.field}: {localise(self.reason, locale)}"


class KeyFileError(IntelshareError):
    """A key file is missing, unreadable, of the wrong kind, or readable by others."""


class DecryptionError(IntelshareError):
    """A payload could not be decrypted. Deliberately says nothing about why."""

    exit_code = 1

    def __init__(self) -> None:
        super().__init__(msg("the payload cannot be decrypted with this key"))


class SignatureError(IntelshareError):
    """A signature does not verify with the exchange's published keys."""

    exit_code = 1


class ChainBrokenError(IntelshareError):
    """The audit chain is broken at ``sequence``: a record was changed, removed, reordered or
    inserted."""

    exit_code = 1

    def __init__(self, sequence: int, reason: str) -> None:
        self.sequence = sequence
        self.reason = reason
        super().__init__(
            msg(
                "audit chain broken at sequence {sequence}: {reason}",
                sequence=sequence,
                reason=reason,
            )
        )


class InconsistentLogError(IntelshareError):
    """Two signed checkpoints of the audit log disagree: the newer one is not an append-only
    extension of the older (RFC 9162 §2.1.4), so history was rewritten or two different logs
    were shown. ``old_size``/``new_size`` and ``old_root``/``new_root`` are the checkpoints'
    sizes and roots, ``reason`` what the records say."""

    exit_code = 1

    def __init__(
        self, old_size: int, new_size: int, old_root: bytes, new_root: bytes, reason: str
    ) -> None:
        self.old_size, self.new_size = old_size, new_size
        self.old_root, self.new_root = old_root, new_root
        self.reason = reason
        shown = {
            "old_size": old_size,
            "new_size": new_size,
            "old_root": old_root.hex(),
            "new_root": new_root.hex(),
            "reason": reason,
        }
        if new_root:
            said = msg(
                "the checkpoints disagree at size {old_size}: the checkpoint of {new_size} "
                "records (root {new_root}) does not extend the checkpoint of {old_size} records "
                "(root {old_root}): {reason}",
                **shown,
            )
        else:  # there is no newer checkpoint
            said = msg(
                "the checkpoints disagree at size {old_size}: the checkpoint of {new_size} "
                "records (root none) does not extend the checkpoint of {old_size} records "
                "(root {old_root}): {reason}",
                **shown,
            )
        super().__init__(said)
