"""Audit record v4: notices (recall, correction, feedback) are chained, hashed and signed like
disclosures, and records written before v4 verify as they always did."""

from __future__ import annotations

from typing import Any

import pytest

from streams.audit.chain import GENESIS, KIND_FIELDS, RECORD_KINDS, record_hash, seal_record
from streams.audit.chain import verify_chain as verify
from streams.core.codec import Codec
from tests.unit.test_chain import KEY, KEYS, KID, NOW, SCHEMAS, broken, pending


def _notice(i: int, kind: str = "recall", **fields: Any) -> dict[str, Any]:
    base = pending(i) | {"disclosure_id": f"n-{i}", "kind": kind, "refers_to": "d-0"}
    return base | {"reason": "source withdrew", "useful": None} | fields


def _chain(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        prev = out[-1]["hash"] if out else GENESIS
        out.append(
            seal_record(entry, sequence=i, prev_hash=prev, key_id=KID, signing_key=KEY, now=NOW)
        )
    return out


def _mixed() -> list[dict[str, Any]]:
    return _chain([
        pending(0), _notice(1), _notice(2, "correction", reason=None),
        _notice(3, "feedback", reason=None, useful=True), pending(4),
    ])  # fmt: skip


def test_notices_chain_with_disclosures_and_survive_the_wire() -> None:
    """A recall, a correction and feedback about disclosure d-0 are chained after it under
    their own ids; the chain verifies before and after an Avro round trip (v4)."""
    records = _mixed()
    codec = Codec(SCHEMAS, "intelshare.AuditRecord")
    assert codec.reader.version >= 4
    decoded = [codec.decode(codec.encode(r)) for r in records]
    assert decoded == records
    assert verify(decoded, KEYS) == 5


def test_a_record_written_before_v4_reads_as_a_disclosure_and_still_verifies() -> None:
    """A v3 writer's record decodes with kind "disclosure" and null notice fields, and its hash,
    made before v4 existed, still matches."""
    old = Codec(SCHEMAS, "intelshare.AuditRecord", version=3)
    v3 = {k: v for k, v in pending(0).items() if k not in KIND_FIELDS}
    sealed = _chain([v3])
    decoded = Codec(SCHEMAS, "intelshare.AuditRecord").decode(old.encode(sealed[0]))
    assert {f: decoded[f] for f in KIND_FIELDS} == {
        "kind": "disclosure", "refers_to": None, "reason": None, "useful": None,
    }  # fmt: skip
    assert verify([decoded], KEYS) == 1


def _flip(value: Any) -> Any:
    if value is None:
        return "x"
    if isinstance(value, bool):
        return not value
    return value + "x"


@pytest.mark.parametrize("field", KIND_FIELDS)
@pytest.mark.parametrize("at", [0, 1, 3])
def test_a_changed_kind_field_breaks_the_chain_at_its_record(field: str, at: int) -> None:
    """Turning a disclosure into a notice, or changing a notice's kind, the disclosure it names,
    its reason or its usefulness, is found at that record."""
    records = _mixed()
    records[at] = records[at] | {field: _flip(records[at][field])}
    assert broken(records).sequence == at


def test_the_v4_fields_are_hashed_only_when_set() -> None:
    """A disclosure at the defaults hashes as a v3 record without them; a notice does not."""
    plain = pending(0)
    without = {k: v for k, v in plain.items() if k not in KIND_FIELDS}
    assert record_hash(plain) == record_hash(without)
    assert record_hash(_notice(0)) != record_hash(_notice(0) | {"kind": "disclosure"})


@pytest.mark.parametrize(
    "bad", [{"kind": 3}, {"refers_to": b"d-0"}, {"reason": ["x"]}, {"useful": "yes"}]
)
def test_a_v4_field_of_the_wrong_type_is_malformed(bad: dict[str, Any]) -> None:
    """A v4 field of the wrong type is named as a malformed record, not hashed as absent."""
    records = _mixed()
    records[1] = records[1] | bad
    error = broken(records)
    assert (error.sequence, "malformed" in error.reason) == (1, True)


def test_record_kinds_name_the_directives_operations_first() -> None:
    """The six processing operations of the Law Enforcement Directive's logging article, then
    the three notices."""
    assert RECORD_KINDS[:6] == (
        "collection", "alteration", "consultation", "disclosure", "combination", "erasure",
    )  # fmt: skip
    assert RECORD_KINDS[6:] == ("recall", "correction", "feedback")
