"""Oversight links: one prisoner found under every pseudonym, by the oversight body alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.audit.records import AuditFilter, matches
from streams.core.crypto import Pseudonymiser, SubjectLinker, link_key
from streams.core.keyfiles import export_link_key, load_link_key
from streams.core.minimise import oversight_links, oversight_subjects
from streams.errors import KeyFileError
from tests.unit.core import enriched, make_agreement

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_a_link_is_stable_keyed_and_unlike_any_pseudonym() -> None:
    """The same id links alike every time; another key or another id links otherwise; and a
    link is none of the recipients' pseudonyms, so it reveals none of them."""
    link = SubjectLinker.from_secret(SECRET)
    assert link("KZ-P-000101") == SubjectLinker.from_secret(SECRET)("KZ-P-000101")
    assert link("KZ-P-000101") != link("KZ-P-000102")
    assert link("KZ-P-000101") != SubjectLinker.from_secret(OTHER)("KZ-P-000101")
    pseudonyms = {Pseudonymiser(SECRET, r)("KZ-P-000101") for r in ("kz-knb", "kg-gsin", "")}
    assert link("KZ-P-000101") not in pseudonyms
    assert link("KZ-P-000101").startswith("sl-")
    assert "SECRET" not in repr(link)
    assert repr(SECRET) not in repr(link)


def test_the_link_key_is_not_the_pseudonym_secret() -> None:
    """The oversight body gets a derived key: holding it, it cannot derive pseudonyms."""
    assert link_key(SECRET) != SECRET
    assert len(link_key(SECRET)) == 32
    with pytest.raises(KeyFileError):
        SubjectLinker(b"short")


def test_links_follow_the_disclosed_subjects() -> None:
    """One link per subject the recipient saw, in the same order; none when subjects are not
    disclosed; the same for a pseudonymising and a clear agreement."""
    report = enriched()
    link = SubjectLinker.from_secret(SECRET)
    hidden = make_agreement()
    clear = make_agreement(pseudonymise=[])
    ids = [s["subject_id"] for s in report["subjects"]]
    assert oversight_links(report, hidden, link) == [link(i) for i in ids]
    assert oversight_links(report, clear, link) == [link(i) for i in ids]
    alias = Pseudonymiser(SECRET, hidden.recipient)
    assert len(oversight_subjects(report, hidden, alias)) == len(ids)
    no_subjects = make_agreement(disclose=["event_id"], pseudonymise=[])
    assert oversight_links(report, no_subjects, link) == []


def record(subjects: list[str], links: list[str]) -> dict[str, object]:
    return {"recipient": "a", "agreement_id": "A", "event_id": "e", "subjects": subjects,
            "subject_links": links}  # fmt: skip


def test_a_subject_filter_with_its_link_finds_pseudonymised_records() -> None:
    """By real id: a record with the id in clear matches; one with only its link matches
    only when the filter carries the link; an unrelated record never does."""
    link = SubjectLinker.from_secret(SECRET)
    clear = record(["KZ-P-1"], [link("KZ-P-1")])
    hidden = record(["ps-abc"], [link("KZ-P-1")])
    other = record(["ps-def"], [link("KZ-P-2")])
    old = record(["ps-abc"], [])
    plain = AuditFilter(subject="KZ-P-1")
    linked = plain._replace(subject_link=link("KZ-P-1"))
    assert [matches(r, plain) for r in (clear, hidden, other, old)] == [True, False, False, False]
    assert [matches(r, linked) for r in (clear, hidden, other, old)] == [True, True, False, False]
    hostile = record(["ps-abc"], "sl-" * 3)  # type: ignore[arg-type]
    assert not matches(hostile, linked)


def test_exported_link_key_is_private_and_loads(tmp_path: Path) -> None:
    """export-link writes a 0600 file the oversight body loads; without it and without the
    exchange's secret there is no linker; an existing file is never overwritten."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "exchange.pseudonym.key").write_bytes(b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
    (keys / "exchange.pseudonym.key").chmod(0o600)
    out = tmp_path / "oversight"
    path = export_link_key(keys, out)
    assert path.stat().st_mode & 0o777 == 0o600
    from_file = load_link_key(tmp_path / "elsewhere", path)
    on_exchange = load_link_key(keys)
    assert from_file is not None
    assert on_exchange is not None
    assert (
        from_file("KZ-P-1") == on_exchange("KZ-P-1") == SubjectLinker.from_secret(SECRET)("KZ-P-1")
    )
    assert load_link_key(tmp_path / "nothing") is None
    with pytest.raises(KeyFileError):
        export_link_key(keys, out)
