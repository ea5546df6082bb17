"""``agencies register``'s checks, without a broker: its options are checked as reference data
is (one country check for both), and a new record is compared with the registered one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.core.crypto import key_id
from streams.core.reference import agency_changes, agency_details, parse_reference_line
from streams.errors import AgencyInvalidError, ReferenceInvalidError
from tests.factories import AGENCY_KEY, NOW, agency_record

KEY = AGENCY_KEY
OTHER_KEY = bytes(range(2, 34))
EXPECTED = "is not an ISO 3166-1 alpha-2 code (two upper-case letters, e.g. KZ)"
BAD_COUNTRIES = [
    "kz",
    "Kz",
    "KAZ",
    "K",
    "",
    " ",
    "KZ ",
    "K1",
    "KZ\nX",
    "\u041a\u0417",
    "A" * 10_000,
]


record = agency_record


def test_valid_details_are_returned() -> None:
    """An id, a name and a two-letter upper-case country pass; no country is an international
    body."""
    assert agency_details("kz-knb", "KNB", "KZ") == ("kz-knb", "KNB", "KZ")
    assert agency_details("un-odc", "UNODC", None) == ("un-odc", "UNODC", None)


@pytest.mark.parametrize("country", BAD_COUNTRIES)
def test_a_bad_country_is_refused_naming_the_option_the_value_and_what_is_expected(
    country: str,
) -> None:
    """Lower or mixed case, three letters, one, empty, blank, a trailing space, a digit, a
    newline, Cyrillic look-alikes, 10 000 characters: an AgencyInvalidError (a usage error,
    exit 2) whose one-line message names --country, shows the value escaped and cut short, and
    says what is expected."""
    with pytest.raises(AgencyInvalidError) as caught:
        agency_details("kz-knb", "KNB", country)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert message.startswith("agency rejected: --country: ")
    assert message.endswith(EXPECTED)
    assert repr(country)[:30] in message
    assert "\n" not in message
    assert len(message) < 200


@pytest.mark.parametrize("country", BAD_COUNTRIES)
def test_reference_data_refuses_the_same_countries(country: str) -> None:
    """The command line and `reference load` share one country check: what one refuses, the
    other refuses, with the same words."""
    line = {"type": "agency", "agency_id": "kz-knb", "name": "KNB", "country": country,
            "public_key": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="}  # fmt: skip
    with pytest.raises(ReferenceInvalidError, match="alpha-2"):
        parse_reference_line(line, "line 1", NOW)


def test_every_bad_option_is_named_at_once() -> None:
    """A bad id, a name with a control character and a bad country are all named together."""
    with pytest.raises(AgencyInvalidError) as caught:
        agency_details("KZ_KNB", "K\x1bNB", "kz")
    fields = [p.field for p in caught.value.problems]
    assert fields == ["--id", "--name", "--country"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "a\u202eb"])
def test_a_bad_name_is_refused(name: str) -> None:
    """Empty, blank, over 200 characters, or with a bidirectional override."""
    with pytest.raises(AgencyInvalidError, match="--name"):
        agency_details("kz-knb", name, "KZ")


def test_the_same_details_registered_later_are_no_change() -> None:
    """Only the registration time differs: nothing to replace."""
    assert agency_changes(record(), record(registered_at=NOW + timedelta(days=3))) == []


def test_no_country_and_no_receipt_key_compare_equal_however_stored() -> None:
    """A null country and an absent one, an empty receipt key and a missing one, are the same."""
    old = record(country=None)
    del old["signing_key"]
    assert agency_changes(old, record(country=None, signing_key=b"")) == []


def test_each_change_is_named_keys_by_key_id() -> None:
    """Name and country show old and new values; keys show their key ids, never raw bytes."""
    new = record(
        name="KNB", country="KG", public_key=OTHER_KEY, key_id=key_id(OTHER_KEY),
        signing_key=KEY,
    )  # fmt: skip
    assert agency_changes(record(), new) == [
        "name 'National Security Committee' -> 'KNB'",
        "country 'KZ' -> 'KG'",
        f"public key {key_id(KEY)} -> {key_id(OTHER_KEY)}",
        f"receipt key none -> {key_id(KEY)}",
    ]


def test_a_hostile_registered_name_is_shown_escaped_and_short() -> None:
    """A name already on the topic is shown escaped and cut, so a message stays one line."""
    (change,) = agency_changes(record(name="evil\n" + "x" * 500), record())
    assert "\n" not in change
    assert len(change) < 120


@pytest.mark.parametrize("country", ["XX", "ZZ", "AA", "UK", "EU"])
def test_a_code_of_the_right_shape_that_iso_3166_does_not_assign_is_refused(country: str) -> None:
    """Two upper-case letters are not enough: XX, ZZ, AA, UK (the United Kingdom is GB) and EU
    are not assigned ISO 3166-1 alpha-2 codes, in the register and in reference data alike."""
    with pytest.raises(AgencyInvalidError) as caught:
        agency_details("kz-knb", "KNB", country)
    assert f"{country} is not an assigned ISO 3166-1 alpha-2 code" in str(caught.value)
    for assigned in ("KZ", "KG", "TJ", "IQ", "GB"):
        assert agency_details("kz-knb", "KNB", assigned)[2] == assigned
