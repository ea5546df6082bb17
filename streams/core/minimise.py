"""Data minimisation: only the agreed fields leave the exchange, identifiers pseudonymised.

Pure: the pseudonymiser is a parameter (a ``streams.crypto.Pseudonymiser`` keyed to the
recipient). Whatever the agreement lists, the report's TLP always travels with the disclosure
(``tlp``: the recipient must know how it may share what it got; FIRST's TLP 2.0 says the label
goes with the information), and when the handling code is C so do its conditions, as
``handling_conditions``. Neither is data about a person. An identifier the agreement
pseudonymises is pseudonymised in the narrative too (:func:`hide_identifiers`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from streams.core.policy import Agreement
from streams.core.report import ENRICHED_FIELDS, SUBJECT_DETAILS, report_to_json

__all__ = [
    "EXCHANGE_FIELDS",
    "hide_identifiers",
    "minimise",
    "oversight_links",
    "oversight_subjects",
]

EXCHANGE_FIELDS = ENRICHED_FIELDS
"""Disclosable top-level fields that come from the exchange's enrichment, not the report."""


def minimise(
    report: Mapping[str, Any],
    agreement: Agreement,
    pseudonymise: Callable[[str], str],
    *,
    json_form: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON-ready payload for the recipient: the ``disclose`` fields of an enriched report.

    ``pseudonymise`` maps an identifier to the recipient's pseudonym; it is applied to every
    path the agreement lists in ``pseudonymise``. ``json_form`` is ``report_to_json(report)``
    when the caller already has it (route computes it once per report, not per agreement).
    """
    full = json_form if json_form is not None else report_to_json(report)
    enrichment: Mapping[str, Any] = full.get("enrichment") or {}
    hidden = set(agreement.pseudonymise)
    payload: dict[str, Any] = {}
    for field in agreement.disclose:
        if field in EXCHANGE_FIELDS:
            payload[field] = enrichment.get(field)
        elif field == "subjects":
            payload["subjects"] = _subjects(full, enrichment, agreement, pseudonymise)
        elif "." not in field:  # subjects.* are handled with subjects
            payload[field] = full[field]
    for field in ("unit_id", "facility_id"):
        if field in hidden and field in payload:
            payload[field] = pseudonymise(payload[field])
    if "narrative" in payload and hidden:
        payload["narrative"] = hide_identifiers(payload["narrative"], full, hidden, pseudonymise)
    payload["tlp"] = full["tlp"]
    grading = full["grading"]
    if grading["handling"] == "C":
        payload["handling_conditions"] = grading["conditions"]
    return payload


_FORMS = {
    "subjects.subject_id": r"[A-Z]{2}-P-[0-9]{3,}",
    "facility_id": r"[A-Z]{2}-F-[0-9]{3,}",
    "unit_id": r"[A-Z]{2}-PIU-[A-Z0-9]+(?:-[A-Z0-9]+)*",
}
"""The forms of the identifiers of reference data (``KZ-P-000102``, ``KZ-F-001``,
``KZ-PIU-KARAGANDA``), by the agreement path that pseudonymises them."""
_EDGE = "(?<![A-Za-z0-9_.-]){}(?![A-Za-z0-9_])"  # a whole token: not part of a longer id


@functools.lru_cache(maxsize=16)
def _forms(paths: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(_EDGE.format("(?:" + "|".join(_FORMS[p] for p in paths) + ")"), re.I)


def hide_identifiers(
    text: str, full: Mapping[str, Any], hidden: set[str], pseudonymise: Callable[[str], str]
) -> str:
    """``text`` with each identifier an agreement pseudonymises replaced by its pseudonym: the
    report's own ids (its subjects, unit, facility) wherever they stand alone, and any other
    token of the same form in any case (a prisoner named only in the narrative, as the
    upper-case id of reference data). The same id gets the same
    pseudonym as in the structured fields, so the recipient can still tell who is who."""
    paths = tuple(p for p in _FORMS if p in hidden)
    if not paths:
        return text
    own = [s["subject_id"] for s in full["subjects"]] if "subjects.subject_id" in hidden else []
    own += [full[f] for f in ("unit_id", "facility_id") if f in hidden]
    # longest first, so that an id is replaced whole, not an id it starts with (reverse text
    # order does the same, as a prefix sorts before: without key=len is mutation-equivalent)
    present = sorted({i for i in own if i in text}, key=len, reverse=True)
    if present:
        exact = _EDGE.format("(?:" + "|".join(re.escape(i) for i in present) + ")")
        text = re.sub(exact, lambda m: pseudonymise(m.group(0)), text)
    return _forms(paths).sub(lambda m: pseudonymise(m.group(0).upper()), text)


def _subjects(
    full: Mapping[str, Any],
    enrichment: Mapping[str, Any],
    agreement: Agreement,
    pseudonymise: Callable[[str], str],
) -> list[dict[str, Any]]:
    known = {s["subject_id"]: s for s in enrichment.get("subjects", [])}
    details = [d for d in SUBJECT_DETAILS if f"subjects.{d}" in agreement.disclose]
    hide = "subjects.subject_id" in agreement.pseudonymise
    out = []
    for subject in full["subjects"]:
        ident = subject["subject_id"]
        item: dict[str, Any] = {
            "subject_id": pseudonymise(ident) if hide else ident,
            "role": subject["role"],
        }
        for detail in details:
            item[detail] = known.get(ident, {}).get(detail)
        out.append(item)
    return out


def oversight_subjects(
    report: Mapping[str, Any],
    agreement: Agreement,
    pseudonymise: Callable[[str], str],
    clear: Callable[[str], str] | None = None,
) -> list[str]:
    """Subjects as the oversight body may see them: in the form the recipient received them.

    Pseudonymised where the agreement pseudonymises them; none when subjects were not disclosed.
    Where the agreement discloses ids in clear, ``clear(id)`` when given: the disclosure
    builder passes the subject's commitment (the record's ``subject_links`` entry), because
    the audit log is kept forever and cannot be rewritten, so an id written there in clear
    would outlive an erasure order (issue 13). The oversight body finds such a record by
    subject (``audit query --subject --link-key``) while the subject is not erased; whoever
    needs the id a recipient received asks the exchange or the recipient.
    """
    if "subjects" not in agreement.disclose:
        return []
    ids = [s["subject_id"] for s in report["subjects"]]
    if "subjects.subject_id" in agreement.pseudonymise:
        return [pseudonymise(i) for i in ids]
    return ids if clear is None else [clear(i) for i in ids]


def oversight_links(
    report: Mapping[str, Any], agreement: Agreement, link: Callable[[str], str]
) -> list[str]:
    """For oversight only: the keyed link of each subject's real id, in the order of
    :func:`oversight_subjects`; none when subjects were not disclosed."""
    if "subjects" not in agreement.disclose:
        return []
    return [link(s["subject_id"]) for s in report["subjects"]]
