"""Offline copies as strong as online checks: an export ends with the signed checkpoint over
its records, and ``audit verify --file`` checks the rows against it; ``audit consistency``
compares two checkpoints offline when it is given exports, which carry the records."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from streams import cli
from streams.audit.checkpoint import make_proof
from streams.audit.offline import export_trailer
from streams.audit.records import export_row
from tests.unit.test_checkpoint import KEY, log
from tests.unit.test_consistency import _checkpoint, rewrite


@pytest.fixture
def pub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The exchange's public key file, in an otherwise empty home."""
    monkeypatch.setenv("INTELSHARE_HOME", str(tmp_path / "home"))
    path = tmp_path / "exchange.pub"
    path.write_text(base64.b64encode(KEY.public_key().public_bytes_raw()).decode() + "\n")
    return str(path)


def lines(records: list[dict[str, Any]], checkpoint: dict[str, Any] | None) -> list[Any]:
    """The lines of ``audit export``: one row per record, then the checkpoint line."""
    return [*(export_row(r) for r in records), export_trailer(checkpoint)]


def write(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def verify(path: str, pub: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["audit", "verify", "--file", path, "--exchange-key", pub])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_honest_export_verifies(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every record under the checkpoint it ends with: sound, exit 0."""
    records, checkpoint = log(12)
    code, out = verify(write(tmp_path / "c.jsonl", lines(records, checkpoint)), pub, capsys)
    assert code == 0, out
    assert "sound: 12 records" in out
    assert "12 under the checkpoint signed" in out


def test_records_newer_than_the_checkpoint_are_said_to_be_uncovered(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export taken between checkpoints verifies and says how many are under none."""
    records, _ = log(12)
    code, out = verify(
        write(tmp_path / "c.jsonl", lines(records, _checkpoint(records, 9))), pub, capsys
    )
    assert code == 0, out
    assert "the last 3 were under no checkpoint yet" in out


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda rows: rows[:-6] + rows[-1:], "records were removed from its end"),
        (lambda rows: rows[:-5], "holds records but no signed checkpoint"),
        (lambda rows: [], "is empty: it holds no records and no signed checkpoint"),
        (lambda rows: rows[-1:], "the log holds only 0: records were removed from its end"),
        (
            lambda rows: [*rows[:4], dict(rows[4], approved_by="the judge"), *rows[5:]],
            "BROKEN at sequence 4: the row has a field no signature covers ('approved_by')",
        ),
        (
            lambda rows: [*rows[:3], rows[4], rows[3], *rows[5:]],
            "BROKEN at sequence 3: expected sequence 3, found 4",
        ),
        (
            lambda rows: [*rows[:6], rows[-1], *rows[6:-1]],
            "BROKEN at sequence 6: a checkpoint line among the records",
        ),
        (
            lambda rows: [
                *rows[:2],
                {k: v for k, v in rows[2].items() if k != "recipient"},
                *rows[3:],
            ],
            "BROKEN at sequence 2: the row lacks recipient",
        ),
    ],
    ids=[
        "cut-tail",
        "cut-lines",
        "empty",
        "checkpoint-only",
        "unsigned-field",
        "out-of-order",
        "checkpoint-moved",
        "field-removed",
    ],
)
def test_a_damaged_copy_fails_naming_what_is_wrong(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str], tamper: Any, expected: str
) -> None:
    """A cut tail, an empty file, an unsigned extra field, a record out of order, a moved or
    missing checkpoint line each fail with exit 1 and say what is wrong."""
    records, checkpoint = log(12)
    code, out = verify(write(tmp_path / "c.jsonl", tamper(lines(records, checkpoint))), pub, capsys)
    assert code == 1, out
    assert expected in out
    assert "Traceback" not in out


def test_a_copy_with_a_checkpoint_from_another_key_is_a_key_problem(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint line swapped for one of another log fails against its root."""
    records, _ = log(8)
    other = _checkpoint(rewrite(records, 2), 8)
    code, out = verify(write(tmp_path / "c.jsonl", lines(records, other)), pub, capsys)
    assert code == 1
    assert "do not hash to the signed root" in out


# --- audit consistency, offline -------------------------------------------------------------


def consistency(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["audit", "consistency", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_later_export_extends_an_earlier_one(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last month's export and today's: consistent, and the proof written checks offline."""
    records, checkpoint = log(14)
    old = write(tmp_path / "old.jsonl", lines(records[:6], _checkpoint(records, 6)))
    new = write(tmp_path / "new.jsonl", lines(records, checkpoint))
    proof = tmp_path / "consistency.json"
    code, out = consistency(old, new, "--exchange-key", pub, "--out", str(proof), capsys=capsys)
    assert code == 0, out
    assert "consistent: the checkpoint of 14 records" in out
    assert "extends the checkpoint of 6 records" in out
    assert cli.main(["audit", "check-proof", str(proof), "--exchange-key", pub]) == 0
    assert "consistent: " in capsys.readouterr().out
    altered = json.loads(proof.read_text())
    altered["consistency_path"][0] = "00" * 32
    proof.write_text(json.dumps(altered))
    assert cli.main(["audit", "check-proof", str(proof), "--exchange-key", pub]) == 1
    assert "NOT PROVEN: the checkpoints disagree at size 6" in capsys.readouterr().out


def test_an_insider_rewrite_is_named_by_size_and_record(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Record 3 changed, the chain and a new checkpoint re-signed with the exchange key: the
    new export verifies on its own, but not as an extension of the old one; exit 1 names the
    size, both roots, and the first record that differs."""
    records, _ = log(8)
    old_checkpoint = _checkpoint(records, 8)
    rewritten = rewrite(records, 3, extra=4)
    new_checkpoint = _checkpoint(rewritten, 12)
    old = write(tmp_path / "old.jsonl", lines(records, old_checkpoint))
    new = write(tmp_path / "new.jsonl", lines(rewritten, new_checkpoint))
    assert verify(new, pub, capsys)[0] == 0  # the rewrite is internally sound
    code, out = consistency(old, new, "--exchange-key", pub, capsys=capsys)
    assert code == 1, out
    assert "NOT CONSISTENT: the checkpoints disagree at size 8" in out
    assert old_checkpoint["root_hash"].hex() in out
    assert new_checkpoint["root_hash"].hex() in out
    assert "the first record that differs between the two is sequence 3" in out


def test_a_checkpoint_file_or_proof_serves_as_the_older_checkpoint(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An inclusion proof kept from before carries its checkpoint: it is enough as OLD."""
    records, checkpoint = log(10)
    kept = make_proof(records[2], [r["hash"] for r in records], _checkpoint(records, 5))
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(kept))
    new = write(tmp_path / "new.jsonl", lines(records, checkpoint))
    code, out = consistency(str(proof), new, "--exchange-key", pub, capsys=capsys)
    assert code == 0, out
    assert "extends the checkpoint of 5 records" in out


def test_checkpoints_in_the_wrong_order_or_unreadable_are_usage_errors(
    tmp_path: Path, pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """NEW older than OLD, or a file that holds no checkpoint: exit 2 saying what to give."""
    records, checkpoint = log(10)
    old = write(tmp_path / "old.jsonl", lines(records[:6], _checkpoint(records, 6)))
    new = write(tmp_path / "new.jsonl", lines(records, checkpoint))
    code, out = consistency(new, old, "--exchange-key", pub, capsys=capsys)
    assert code == 2
    assert "give the earlier checkpoint first" in out
    bare = write(tmp_path / "bare.jsonl", [export_row(r) for r in records])
    code, out = consistency(bare, new, "--exchange-key", pub, capsys=capsys)
    assert code == 2
    assert "holds no signed checkpoint" in out
