"""Property-based fuzzing of every input (ops/fuzz.py, hypothesis), at a modest count: no
mutated report, reference line, agreement or submitted text crashes a validator or is
accepted when it breaks an invariant checked independently of the validators."""

from __future__ import annotations

import json

import pytest

from ops import fuzz


def test_no_input_crashes_or_is_accepted_invalid() -> None:
    """600 cases over the four targets: all tallied, none crashed, none accepted invalid;
    each target both accepts and rejects, so the fuzzer reaches past the first check."""
    tallies = fuzz.run(600, seed=3)
    assert set(tallies) == set(fuzz.TARGETS)
    for name, tally in tallies.items():
        counts = tally.counts
        assert sum(counts.values()) == 150, name
        assert counts["crashed"] == 0, tally.examples
        assert counts["accepted_invalid"] == 0, tally.examples
        assert counts["rejected"] > 0, name
    assert all(tallies[t].counts["accepted"] > 0 for t in ("report", "submit-text", "agreement"))


def test_the_invariants_catch_what_the_validators_would_let_through() -> None:
    """The independent checks are not vacuous: a record with a control character outside the
    narrative, or a non-canonical id, is named as accepted-invalid when a validator lets it by."""
    assert fuzz._clean({"narrative": "a\x07b", "unit_id": "ok"})
    assert not fuzz._clean({"unit_id": "a\x07b"})
    assert not fuzz._clean({"subjects": [{"subject_id": "\u202eX"}]})
    kind, detail = fuzz._outcome(lambda v: "event_id 'X' is not canonical", {})
    assert (kind, detail) == ("accepted_invalid", "event_id 'X' is not canonical")
    assert fuzz._outcome(lambda v: 1 / 0, {})[0] == "crashed"


def test_the_command_prints_one_row_per_target_and_fails_on_a_crash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--json gives the counts per target; a crash makes the exit code 1 and is shown."""
    assert fuzz.main(["--cases", "40", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) == set(fuzz.TARGETS)
    assert all(f.get("crashed", 0) == 0 for f in figures.values())

    broken = [
        t._replace(outcome=lambda v: ("crashed", "ZeroDivisionError")) for t in fuzz.targets()
    ]
    monkeypatch.setattr(fuzz, "targets", lambda: broken)
    assert fuzz.main(["--cases", "8"]) == 1
    out = capsys.readouterr().out
    assert "crashed: ZeroDivisionError" in out
