"""Minimisation at its edges: an identifier is pseudonymised exactly where the agreement says,
never where it does not, and the narrative gets the same pseudonyms as the fields."""

from __future__ import annotations

from typing import Any

import pytest

from streams.core import minimise as minimise_module
from streams.core.minimise import hide_identifiers, minimise
from streams.core.report import report_to_json
from tests.unit.core import enriched, make_agreement


def alias(value: str) -> str:
    """A visible stand-in for the recipient's pseudonym (reversed, so that it cannot be
    mistaken for an identifier again)."""
    return f"<{value[::-1]}>"


def test_a_disclosed_identifier_that_is_not_pseudonymised_leaves_as_it_is() -> None:
    """Unit, facility and subject ids the agreement discloses but does not pseudonymise are
    sent as they are, even though another identifier is pseudonymised."""
    agreement = make_agreement(
        disclose=["unit_id", "facility_id", "subjects", "narrative"], pseudonymise=["facility_id"]
    )
    payload = minimise(enriched(), agreement, alias)
    assert payload["unit_id"] == "TJ-PIU-DUSHANBE"
    assert payload["facility_id"] == alias("TJ-F-001")
    assert payload["subjects"] == [{"subject_id": "TJ-P-004211", "role": "SUBJECT"}]


def test_pseudonymising_the_unit_leaves_subjects_in_the_narrative() -> None:
    """With only the unit pseudonymised, a subject id in the narrative stays as written."""
    agreement = make_agreement(
        disclose=["unit_id", "subjects", "narrative"], pseudonymise=["unit_id"]
    )
    narrative = "TJ-P-004211 was seen by TJ-PIU-DUSHANBE."
    payload = minimise(enriched(narrative=narrative), agreement, alias)
    assert payload["narrative"] == f"TJ-P-004211 was seen by {alias('TJ-PIU-DUSHANBE')}."


@pytest.mark.parametrize("field", ["unit_id", "facility_id"])
def test_the_reports_own_ids_are_hidden_in_the_narrative_whatever_their_form(field: str) -> None:
    """A unit or facility id not in the reference-data form is still pseudonymised in the
    narrative when the agreement pseudonymises it: it is the report's own id."""
    agreement = make_agreement(disclose=[field, "narrative"], pseudonymise=[field])
    report = enriched(**{field: "Dushanbe.Unit-7", "narrative": "Filed by Dushanbe.Unit-7 today."})
    payload = minimise(report, agreement, alias)
    assert payload[field] == alias("Dushanbe.Unit-7")
    assert payload["narrative"] == f"Filed by {alias('Dushanbe.Unit-7')} today."


def test_the_longer_of_two_ids_sharing_a_start_is_hidden_whole() -> None:
    """Subjects S1 and S1-2: the narrative's S1-2 becomes S1-2's pseudonym, not S1's with -2."""
    subjects = [{"subject_id": "S1", "role": "SUBJECT"}, {"subject_id": "S1-2", "role": "VICTIM"}]
    full = report_to_json(enriched(subjects=subjects, narrative="x"))
    hidden = {"subjects.subject_id"}
    one, two = alias("S1"), alias("S1-2")
    assert hide_identifiers("S1-2 met S1.", full, hidden, alias) == f"{two} met {one}."
    assert hide_identifiers("S1 met S1-2.", full, hidden, alias) == f"{one} met {two}."


def test_nothing_to_hide_leaves_the_text() -> None:
    """An agreement that pseudonymises nothing of the narrative's forms leaves it alone."""
    full = report_to_json(enriched())
    assert hide_identifiers("TJ-P-004211", full, set(), alias) == "TJ-P-004211"


def test_subject_details_default_when_the_enrichment_has_none() -> None:
    """An enrichment without subject details discloses them as null, not an error."""
    agreement = make_agreement(
        disclose=["subjects", "subjects.risk_level"], pseudonymise=["subjects.subject_id"]
    )
    report = enriched()
    del report["enrichment"]["subjects"]
    payload = minimise(report, agreement, alias)
    assert payload["subjects"] == [
        {"subject_id": alias("TJ-P-004211"), "role": "SUBJECT", "risk_level": None}
    ]


def test_the_json_form_given_is_the_one_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that has the report's JSON form (route, once per report) passes it, and it is
    not computed again per agreement."""
    report = enriched()
    full = report_to_json(report)

    def again(_: Any) -> dict[str, Any]:
        raise AssertionError("report_to_json called although the JSON form was given")

    monkeypatch.setattr(minimise_module, "report_to_json", again)
    payload = minimise(report, make_agreement(pseudonymise=[]), alias, json_form=full)
    assert payload["narrative"] == full["narrative"]
