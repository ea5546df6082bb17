"""Data minimisation: only the agreed fields, identifiers pseudonymised per recipient."""

from __future__ import annotations

from typing import Any

import pytest

from streams.core.crypto import Pseudonymiser
from streams.core.minimise import minimise, oversight_subjects
from streams.core.policy import DISCLOSABLE
from tests.unit.core import enriched, make_agreement

SECRET = bytes(range(32))
WITH_C = {"source": 2, "assessment": "B", "handling": "C", "conditions": "no onward sharing"}
TWO = [
    {"subject_id": "TJ-P-004211", "role": "SUBJECT"},
    {"subject_id": "TJ-P-000007", "role": "ASSOCIATE"},
]


def same(value: str) -> str:
    return value


def reverse(value: str) -> str:
    return "ps-" + value[::-1]


@pytest.mark.parametrize("field", [f for f in DISCLOSABLE if "." not in f])
def test_a_field_not_listed_is_absent(field: str) -> None:
    """Each disclosable field appears when it is the one listed, and no other field does
    (but the TLP label, which always travels)."""
    payload = minimise(enriched(), make_agreement(disclose=[field], pseudonymise=[]), same)
    assert set(payload) == {field, "tlp"}


def test_the_tlp_label_travels_whatever_the_agreement_lists() -> None:
    """An agreement that does not list tlp still hands the recipient the report's label, so
    it knows how far it may share what it got (FIRST TLP 2.0: the label goes with the data)."""
    for tlp in ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT"):
        payload = minimise(
            enriched(tlp=tlp), make_agreement(disclose=["kind"], pseudonymise=[]), same
        )
        assert payload == {"kind": "incident", "tlp": tlp}


def test_only_disclosed_fields_leave() -> None:
    """The payload holds exactly the agreement's fields, with the report's JSON values."""
    payload = minimise(enriched(), make_agreement(pseudonymise=[]), same)
    assert payload == {
        "event_id": payload["event_id"],
        "kind": "incident",
        "occurred_at": "2026-11-20T14:05:00Z",
        "facility_id": "TJ-F-001",
        "category": "RECRUITMENT",
        "severity": "HIGH",
        "subjects": [{"subject_id": "TJ-P-004211", "role": "SUBJECT"}],
        "narrative": "Inmate approached two younger prisoners in the exercise yard.",
        "tlp": "AMBER",
    }


def test_json_forms_of_times_and_tlp() -> None:
    """Times leave as ISO 8601 UTC text and TLP as its label, never as Avro symbols."""
    agreement = make_agreement(disclose=["reported_at", "tlp"], pseudonymise=[])
    payload = minimise(enriched(tlp="AMBER+STRICT"), agreement, same)
    assert payload == {"reported_at": "2026-11-20T16:40:00Z", "tlp": "AMBER+STRICT"}


def test_exchange_fields_and_subject_details_only_when_disclosed() -> None:
    """Country and risk levels appear only when the agreement lists them."""
    bare = minimise(enriched(), make_agreement(), same)
    assert "country" not in bare
    assert set(bare["subjects"][0]) == {"subject_id", "role"}
    disclose = ["event_id", "country", "facility_name", "security_level", "correlated_with"]
    disclose += ["subjects", "subjects.risk_level", "subjects.rftf"]
    rich = minimise(enriched(), make_agreement(disclose=disclose, pseudonymise=[]), same)
    assert rich["country"] == "KZ"
    assert (rich["facility_name"], rich["security_level"]) == ("Facility", "high")
    assert rich["correlated_with"] == []
    assert rich["subjects"][0] == {
        "subject_id": "TJ-P-004211",
        "role": "SUBJECT",
        "risk_level": "HIGH",
        "rftf": True,
    }


def test_one_subject_detail_without_the_other() -> None:
    """Disclosing subjects.rftf alone gives rftf and no risk level."""
    agreement = make_agreement(disclose=["subjects", "subjects.rftf"], pseudonymise=[])
    payload = minimise(enriched(), agreement, same)
    assert payload["subjects"] == [{"subject_id": "TJ-P-004211", "role": "SUBJECT", "rftf": True}]


def test_unknown_subject_details_are_null() -> None:
    """A subject the reference data does not know gets null details, not another's."""
    report = enriched(subjects=TWO)
    report["enrichment"]["subjects"] = report["enrichment"]["subjects"][:1]
    agreement = make_agreement(disclose=["subjects", "subjects.risk_level"], pseudonymise=[])
    details = [s["risk_level"] for s in minimise(report, agreement, same)["subjects"]]
    assert details == ["HIGH", None]


def test_pseudonymised_subject_ids() -> None:
    """Subject ids are replaced by the recipient's pseudonyms; roles stay."""
    payload = minimise(enriched(subjects=TWO), make_agreement(), reverse)
    assert payload["subjects"] == [
        {"subject_id": "ps-112400-P-JT", "role": "SUBJECT"},
        {"subject_id": "ps-700000-P-JT", "role": "ASSOCIATE"},
    ]


def test_pseudonyms_differ_across_recipients_and_hold_for_one() -> None:
    """Two reports on one subject give one agency one pseudonym and another agency another."""
    kz, kg = (Pseudonymiser(SECRET, agency) for agency in ("kz-knb", "kg-gknb"))
    agreement = make_agreement()

    def alias(report: dict[str, Any], pseudonymise: Pseudonymiser) -> str:
        subject: str = minimise(report, agreement, pseudonymise)["subjects"][0]["subject_id"]
        return subject

    first, second = enriched(), enriched(narrative="another report")
    assert alias(first, kz) == alias(second, kz)
    assert alias(first, kz) != alias(first, kg)
    assert "TJ-P-004211" not in (alias(first, kz), alias(first, kg))


def test_pseudonymised_identifiers() -> None:
    """unit_id and facility_id can be pseudonymised like subject ids."""
    agreement = make_agreement(
        disclose=["unit_id", "facility_id"], pseudonymise=["unit_id", "facility_id"]
    )
    payload = minimise(enriched(), agreement, reverse)
    assert payload == {
        "unit_id": "ps-EBNAHSUD-UIP-JT",
        "facility_id": "ps-100-F-JT",
        "tlp": "AMBER",
    }


def test_conditions_travel_with_handling_c() -> None:
    """A report graded with handling C carries its conditions though grading is not disclosed."""
    agreement = make_agreement(
        disclose=["event_id"], pseudonymise=[], match={"handling": ["P", "C"]}
    )
    payload = minimise(enriched(grading=WITH_C), agreement, same)
    assert payload["handling_conditions"] == "no onward sharing"
    assert "grading" not in payload


def test_no_conditions_field_for_handling_p() -> None:
    """A report with handling P carries no handling_conditions."""
    assert "handling_conditions" not in minimise(enriched(), make_agreement(), same)


def test_oversight_sees_subjects_as_the_recipient_did() -> None:
    """The oversight body gets the pseudonyms the recipient got, or nothing if none went."""
    alias = Pseudonymiser(SECRET, "kz-knb")
    report = enriched(subjects=TWO)
    agreement = make_agreement()
    sent = [s["subject_id"] for s in minimise(report, agreement, alias)["subjects"]]
    assert oversight_subjects(report, agreement, alias) == sent
    plain = make_agreement(pseudonymise=[])
    assert oversight_subjects(report, plain, alias) == ["TJ-P-004211", "TJ-P-000007"]
    hidden = make_agreement(disclose=["event_id"], pseudonymise=[])
    assert oversight_subjects(report, hidden, alias) == []


def test_the_audit_log_names_a_subject_disclosed_in_clear_by_its_commitment() -> None:
    """Given how the log names a subject (its commitment), an id disclosed in clear is named
    that way, never in clear; pseudonyms stay as the recipient got them."""
    alias = Pseudonymiser(SECRET, "kz-knb")
    report = enriched(subjects=TWO)
    plain = make_agreement(pseudonymise=[])
    named = oversight_subjects(report, plain, alias, lambda i: f"sc-{len(i)}")
    assert named == ["sc-11", "sc-11"]
    agreement = make_agreement()
    assert oversight_subjects(report, agreement, alias, str.upper) == oversight_subjects(
        report, agreement, alias
    )


NAMED = (
    "TJ-P-004211 passed a note to kz-p-000102 (not in the report) and to TJ-P-000007; "
    "XTJ-P-004211 and TJ-P-0042119 are other tokens. Seen by TJ-PIU-DUSHANBE at TJ-F-001."
)


def test_identifiers_in_the_narrative_are_pseudonymised_like_the_fields() -> None:
    """Where subject ids are pseudonymised, every prisoner id in the narrative is too: the
    report's own (with the same pseudonym as in ``subjects``) and any other of the reference
    form, in any case; tokens that only contain an id are left alone."""
    agreement = make_agreement(disclose=["subjects", "narrative"])
    payload = minimise(enriched(subjects=TWO, narrative=NAMED), agreement, reverse)
    text = payload["narrative"]
    assert "TJ-P-004211" not in text.replace("XTJ-P-004211", "").replace("TJ-P-0042119", "")
    assert reverse("TJ-P-004211") in text
    assert reverse("TJ-P-000007") in text
    assert reverse("KZ-P-000102") in text  # upper-cased, as reference data writes it
    assert "kz-p-000102" not in text
    assert "XTJ-P-004211" in text
    assert "TJ-P-0042119" not in text  # a longer id of the same form is hidden whole
    assert reverse("TJ-P-0042119") in text
    assert payload["subjects"][0]["subject_id"] == reverse("TJ-P-004211")
    assert "TJ-PIU-DUSHANBE" in text  # unit and facility ids are not pseudonymised here
    assert "TJ-F-001" in text


def test_unit_and_facility_ids_in_the_narrative_follow_their_fields() -> None:
    """When unit_id and facility_id are pseudonymised, so are they in the narrative."""
    agreement = make_agreement(
        disclose=["narrative", "facility_id", "unit_id"], pseudonymise=["unit_id", "facility_id"]
    )
    payload = minimise(enriched(subjects=TWO, narrative=NAMED), agreement, reverse)
    assert "TJ-PIU-DUSHANBE" not in payload["narrative"]
    assert "TJ-F-001" not in payload["narrative"]
    assert reverse("TJ-F-001") == payload["facility_id"]
    assert reverse("TJ-F-001") in payload["narrative"]
    assert "TJ-P-004211" in payload["narrative"]  # subject ids are not pseudonymised here


def test_a_narrative_goes_verbatim_when_nothing_is_pseudonymised() -> None:
    """No pseudonymise list: the narrative is disclosed as written."""
    agreement = make_agreement(disclose=["narrative"], pseudonymise=[])
    assert minimise(enriched(narrative=NAMED), agreement, reverse)["narrative"] == NAMED


def test_a_hostile_narrative_is_pseudonymised_whole_and_fast_enough() -> None:
    """64 KiB of ids and regex metacharacters, and a subject id with a dot (a metacharacter)
    not of the reference form: every id is replaced, the metacharacters stay text, and the
    subject's own id is found only where it stands (P.7 does not match P77)."""
    odd = [{"subject_id": "P.7", "role": "SUBJECT"}]
    body = ("KZ-P-000001 (.*) P.7 P77 " * 3000)[: 64 * 1024]
    agreement = make_agreement(disclose=["narrative", "subjects"])
    text = minimise(enriched(subjects=odd, narrative=body), agreement, reverse)["narrative"]
    assert "KZ-P-000001" not in text
    assert text.count(reverse("P.7")) == body.count("P.7 ")
    assert text.count("P77") == body.count("P77")
    assert "(.*)" in text
