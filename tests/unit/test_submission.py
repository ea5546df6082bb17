"""A unit's signature over its submissions, and intake's check that it may speak for the
report's unit_id (issue 17: a unit could submit for another)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.core.canonical import canonical
from streams.core.codec import Codec
from streams.core.intake import check_submission
from streams.core.keyfiles import generate_signing_key, load_ed25519_private
from streams.core.report import validate_report
from streams.core.schemas import SchemaSet
from streams.core.submission import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    USER_HEADER,
    Signer,
    check_unit,
    sign_submission,
    unit_record,
    verify_submission,
)
from streams.errors import ConfigError, KeyFileError, UnitNotAuthorisedError
from streams.kafka.submit import Submitter
from streams.settings import PROJECT_ROOT, Settings
from tests.factories import NOW, incident

SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")
REPORTS = Codec(SCHEMAS, "intelshare.Report")
KARAGANDA = "kz-piu-karaganda"
DUSHANBE = "tj-piu-dushanbe"
KEYS = {KARAGANDA: Ed25519PrivateKey.generate(), DUSHANBE: Ed25519PrivateKey.generate()}
RECORDS = {
    KARAGANDA: unit_record(
        KARAGANDA, ["KZ-PIU-KARAGANDA"], KEYS[KARAGANDA].public_key().public_bytes_raw(), NOW
    ),
    DUSHANBE: unit_record(
        DUSHANBE, ["TJ-PIU-DUSHANBE"], KEYS[DUSHANBE].public_key().public_bytes_raw(), NOW
    ),
}
REGISTERED: Callable[[str], Mapping[str, Any] | None] = RECORDS.get
Headers = list[tuple[str, bytes | None]]


def report(unit_id: str = "KZ-PIU-KARAGANDA") -> tuple[bytes, bytes]:
    """An encoded report of ``unit_id`` and its key."""
    record = validate_report(incident(unit_id=unit_id), now=NOW)
    return REPORTS.encode(record), record["event_id"].encode()


def signed(value: bytes, user: str = KARAGANDA, key: Ed25519PrivateKey | None = None) -> Headers:
    return list(sign_submission(value, user, key or KEYS[user]))


def replaced(headers: Headers, name: str, value: bytes | None) -> Headers:
    return [(k, value if k == name else v) for k, v in headers]


def refused(value: bytes, headers: Headers | None) -> UnitNotAuthorisedError:
    with pytest.raises(UnitNotAuthorisedError) as caught:
        verify_submission(value, headers, REGISTERED)
    assert caught.value.dead_letter
    return caught.value


def test_a_valid_signature_names_the_user_and_its_units() -> None:
    """A report signed with the unit's registered key verifies to that user and its units."""
    value, _ = report()
    assert verify_submission(value, signed(value), REGISTERED) == Signer(
        KARAGANDA, ("KZ-PIU-KARAGANDA",)
    )


def test_the_signature_covers_user_key_id_and_the_value_digest() -> None:
    """The signed bytes are the documented canonical form, so another implementation can sign."""
    value, _ = report()
    headers = dict(signed(value))
    kid = headers[KEY_ID_HEADER].decode()
    message = canonical("intelshare-submission-v1", KARAGANDA, kid, hashlib.sha256(value).digest())
    KEYS[KARAGANDA].public_key().verify(headers[SIGNATURE_HEADER], message)


@pytest.mark.parametrize("name", [USER_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER])
def test_a_missing_header_means_not_signed(name: str) -> None:
    """Each of the three headers is required; the reason names it and says "not signed"."""
    value, _ = report()
    error = refused(value, [(k, v) for k, v in signed(value) if k != name])
    assert error.field == name
    assert "not signed" in str(error)


def test_no_headers_at_all_is_not_signed() -> None:
    """A message without headers (a plain producer, a replayed dead letter) is refused."""
    value, _ = report()
    assert "not signed" in str(refused(value, None))
    assert "not signed" in str(refused(value, []))


def test_an_unknown_user_is_refused() -> None:
    """A user with no record on intel.ref.units cannot submit, whatever key it signs with."""
    value, _ = report()
    stranger = Ed25519PrivateKey.generate()
    error = refused(value, signed(value, "kg-piu-bishkek", stranger))
    assert error.field == USER_HEADER
    assert "kg-piu-bishkek is not a registered unit user" in str(error)


def test_a_key_id_other_than_the_registered_one_is_refused() -> None:
    """A report signed with a key the unit no longer has registered (rotated) is refused."""
    value, _ = report()
    error = refused(value, signed(value, KARAGANDA, Ed25519PrivateKey.generate()))
    assert error.field == KEY_ID_HEADER
    assert "not the registered key of user kz-piu-karaganda" in str(error)


def test_a_value_changed_after_signing_is_refused() -> None:
    """One changed byte of the report and the signature no longer verifies."""
    value, _ = report()
    headers = signed(value)
    tampered = value[:-1] + bytes([value[-1] ^ 1])
    error = refused(tampered, headers)
    assert error.field == SIGNATURE_HEADER
    assert "does not verify" in str(error)


def test_a_signature_by_another_units_key_is_refused() -> None:
    """Dushanbe naming Karaganda and its (public) key id, but signing with its own key, fails."""
    value, _ = report()
    forged = signed(value, KARAGANDA, KEYS[DUSHANBE])
    forged = replaced(forged, KEY_ID_HEADER, RECORDS[KARAGANDA]["key_id"].encode())
    error = refused(value, forged)
    assert error.field == SIGNATURE_HEADER
    # and Karaganda's own signature under Dushanbe's name fails just the same
    error = refused(value, replaced(signed(value), USER_HEADER, DUSHANBE.encode()))
    assert error.field == KEY_ID_HEADER


def test_a_unit_id_outside_the_users_units_is_refused() -> None:
    """A verified signer may only speak for its own units; the reason names the unit."""
    signer = Signer(KARAGANDA, ("KZ-PIU-KARAGANDA",))
    check_unit(signer, "KZ-PIU-KARAGANDA")
    with pytest.raises(UnitNotAuthorisedError) as caught:
        check_unit(signer, "TJ-PIU-DUSHANBE")
    assert caught.value.field == "unit_id"
    assert str(caught.value) == (
        "unit_id: TJ-PIU-DUSHANBE is not a unit of user kz-piu-karaganda "
        "(its units: KZ-PIU-KARAGANDA)"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (USER_HEADER, b"k" * 100_000),
        (USER_HEADER, b"\xff\xfe\xfd"),
        (USER_HEADER, b"kz-piu-karaganda\n"),
        (USER_HEADER, b"KZ-PIU-KARAGANDA"),
        (USER_HEADER, None),
        (USER_HEADER, b""),
        (KEY_ID_HEADER, b"\x80" * 16),
        (KEY_ID_HEADER, b"0123456789ABCDEF"),
        (KEY_ID_HEADER, b"0" * 10_000),
        (SIGNATURE_HEADER, b"\x00" * 63),
        (SIGNATURE_HEADER, b"\x00" * 1_000_000),
    ],
)
def test_hostile_header_values_are_refused_never_a_crash(name: str, value: bytes | None) -> None:
    """Oversized, non-UTF-8, malformed or empty header values are dead letters naming the
    header, and the reason never echoes a long value."""
    report_value, _ = report()
    error = refused(report_value, replaced(signed(report_value), name, value))
    assert error.field == name
    assert len(str(error)) < 400


def test_a_header_given_twice_is_refused() -> None:
    """Two user headers could make two readers disagree on who signed: refused."""
    value, _ = report()
    headers = [*signed(value), (USER_HEADER, DUSHANBE.encode())]
    assert refused(value, headers).field == USER_HEADER


def test_a_malformed_registered_record_refuses_rather_than_crashes() -> None:
    """A registered record without a valid key refuses the submission (a dead letter)."""
    value, _ = report()
    broken = dict(RECORDS[KARAGANDA], public_key=b"short")
    with pytest.raises(UnitNotAuthorisedError):
        verify_submission(value, signed(value), {KARAGANDA: broken}.get)


def test_intake_in_secure_mode_checks_signature_and_unit() -> None:
    """check_submission with the units registry: own unit passes, another unit's id and an
    unsigned report are dead letters; without the registry (PLAINTEXT) nothing changes."""
    own, own_key = report("KZ-PIU-KARAGANDA")
    checked = check_submission(own, own_key, REPORTS, NOW, headers=signed(own), units=REGISTERED)
    assert checked["unit_id"] == "KZ-PIU-KARAGANDA"
    other, other_key = report("TJ-PIU-DUSHANBE")
    with pytest.raises(UnitNotAuthorisedError, match="TJ-PIU-DUSHANBE is not a unit of user"):
        check_submission(other, other_key, REPORTS, NOW, headers=signed(other), units=REGISTERED)
    with pytest.raises(UnitNotAuthorisedError, match="not signed"):
        check_submission(own, own_key, REPORTS, NOW, units=REGISTERED)
    assert check_submission(other, other_key, REPORTS, NOW)["unit_id"] == "TJ-PIU-DUSHANBE"


def test_the_unit_record_round_trips_through_its_schema() -> None:
    """schemas/unit.v1.avsc holds user, units, the raw key, its id and the registration time."""
    codec = Codec(SCHEMAS, "intelshare.Unit")
    assert codec.decode(codec.encode(RECORDS[KARAGANDA])) == RECORDS[KARAGANDA]


@pytest.mark.parametrize(
    ("user", "units"),
    [
        (KARAGANDA, []),
        (KARAGANDA, ["TJ PIU"]),
        (KARAGANDA, ["../x"]),
        (KARAGANDA, ["x" * 65]),
        ("KZ-PIU", ["KZ-PIU-KARAGANDA"]),
    ],
)
def test_a_unit_record_needs_a_valid_user_and_units(user: str, units: list[str]) -> None:
    """No unit, or a unit id a report could not carry, or a bad user name: a usage error."""
    with pytest.raises(ConfigError):
        unit_record(user, units, bytes(32), NOW)


def _secure(tmp_path: Path, **changes: Any) -> Settings:
    return dataclasses.replace(
        Settings(home=tmp_path),
        security_protocol="SASL_PLAINTEXT",
        sasl_username=KARAGANDA,
        sasl_password="unused",
        **changes,
    )


def test_submit_without_a_key_file_says_how_to_get_one(tmp_path: Path) -> None:
    """On a secure broker `submit` refuses to start without the unit's key, and says what to
    run or set."""
    with pytest.raises(KeyFileError) as caught:
        Submitter(_secure(tmp_path))
    message = str(caught.value)
    assert "intelshare users add --role unit kz-piu-karaganda --unit" in message
    assert "INTELSHARE_UNIT_KEY_FILE" in message
    assert str(tmp_path / "secrets" / "users" / "kz-piu-karaganda.sign.key") in message


def test_submit_signs_with_the_configured_key(tmp_path: Path) -> None:
    """The key of INTELSHARE_UNIT_KEY_FILE (or the default path) signs each report, and the
    signature verifies against that unit's record."""
    key_path, _ = generate_signing_key(tmp_path, "elsewhere")
    settings = Settings.load(
        {
            "INTELSHARE_HOME": str(tmp_path),
            "INTELSHARE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "INTELSHARE_SASL_USERNAME": KARAGANDA,
            "INTELSHARE_UNIT_KEY_FILE": str(key_path),
        },
        config_file=tmp_path / "none.toml",
    )
    assert settings.unit_key_path == key_path
    public = load_ed25519_private(key_path).public_key().public_bytes_raw()
    record = unit_record(KARAGANDA, ["KZ-PIU-KARAGANDA"], public, NOW)
    value, _ = report()
    headers = Submitter(settings).headers(value)
    assert headers is not None
    assert verify_submission(value, headers, {KARAGANDA: record}.get).user == KARAGANDA


def test_plaintext_submit_needs_no_key_and_sends_no_headers(tmp_path: Path) -> None:
    """In PLAINTEXT mode nothing changes: no key is loaded and no header is added."""
    value, _ = report()
    assert Submitter(Settings(home=tmp_path)).headers(value) is None


def test_default_key_path_follows_the_user(tmp_path: Path) -> None:
    """Without INTELSHARE_UNIT_KEY_FILE the key is the user's NAME.sign.key beside its password."""
    settings = _secure(tmp_path)
    assert settings.unit_key_path == tmp_path / "secrets" / "users" / f"{KARAGANDA}.sign.key"
