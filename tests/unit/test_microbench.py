"""ops/microbench: one figure per hot function, each against a baseline of the same run."""

from __future__ import annotations

import json

import pytest

from ops import microbench


def test_every_function_gets_a_figure_and_a_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    """With --json, one object per function, the baseline first at ratio 1; every agent's hot
    functions are there, each with a positive time."""
    assert microbench.main(["--number", "2", "--repeat", "1", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["function"] == microbench.BASELINE
    assert rows[0]["over_baseline"] == 1.0
    assert {r["agent"] for r in rows} == {"-", "intake", "enrich", "route", "sequencer"}
    assert len(rows) == len(microbench.cases())
    assert all(r["us_per_call"] > 0 and r["over_baseline"] > 0 for r in rows)
    names = {r["function"] for r in rows}
    assert {"build_disclosure", "seal_record", "check_submission"} <= names


def test_only_selects_by_name_and_refuses_a_name_nothing_has(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--only keeps the baseline and the functions whose name contains it; an unknown name
    is a usage error, not an empty table."""
    assert microbench.main(["--number", "1", "--repeat", "1", "--only", "SEAL"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["agent", "function"]
    assert [line.split()[0] for line in lines[1:]] == ["-", "route", "route", "sequencer"]
    with pytest.raises(SystemExit) as stopped:
        microbench.main(["--only", "no-such-function"])
    assert stopped.value.code == 2
    assert "no function's name contains" in capsys.readouterr().err
