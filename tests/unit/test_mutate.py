"""ops/mutate: which mutants it asks mutmut for, and how it counts them (no mutmut run here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops import mutate


def test_the_default_is_the_eight_modules_of_the_issue() -> None:
    """policy, minimise, chain, merkle, checkpoint, crypto, dedup and report; key files only
    when named. Every file named exists."""
    assert mutate.DEFAULT == (
        "policy", "minimise", "chain", "merkle", "checkpoint", "crypto", "dedup", "report",
    )  # fmt: skip
    root = Path(__file__).parents[2]
    assert all((root / f).is_file() for files in mutate.MODULES.values() for f in files)


def test_patterns_name_each_file_of_each_module() -> None:
    """mutmut's mutant names are the dotted module path and the function."""
    assert mutate.patterns(["crypto", "chain"]) == [
        "streams.core.crypto.*",
        "streams.core.canonical.*",
        "streams.audit.chain.*",
    ]


def _meta(work: Path, path: str, codes: dict[str, int | None]) -> None:
    meta = work / f"{path}.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}))


def test_every_mutant_counts_and_only_noticed_ones_are_killed(tmp_path: Path) -> None:
    """Killed by a failing test or a time-out; survived, unreached or unrun are not."""
    _meta(tmp_path, "streams/core/crypto.py", {"a": 1, "b": 0, "c": 36, "d": 33})
    _meta(tmp_path, "streams/core/canonical.py", {"e": None, "f": 1, "g": -24, "h": 5})
    score = mutate.score("crypto", tmp_path)
    assert (score.mutants, score.killed) == (8, 4)
    assert score.survivors == ("b", "d", "e", "h")
    assert score.percent == 50.0
    assert mutate.score("dedup", tmp_path).percent == 100.0  # nothing measured yet


def test_the_table_is_markdown_with_one_decimal() -> None:
    """The table has the issue's columns and one row per module, in the order given."""
    rows = [mutate.Score("policy", 3, 2, ("x",)), mutate.Score("dedup", 8, 8, ())]
    assert mutate.table(rows) == (
        "| module | mutants | killed | score |\n"
        "|---|---|---|---|\n"
        "| policy | 3 | 2 | 66.7 % |\n"
        "| dedup | 8 | 8 | 100.0 % |"
    )


def test_an_unknown_module_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A module name that is not one of the list is a usage error naming the choices."""
    with pytest.raises(SystemExit) as caught:
        mutate.main(["cryptography", "--report-only"])
    assert caught.value.code == 2
    assert "no module cryptography; choose from policy, minimise" in capsys.readouterr().err


def test_report_only_prints_the_last_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--report-only reads mutants/ without running mutmut; --survivors lists the rest."""
    monkeypatch.chdir(tmp_path)
    _meta(tmp_path / "mutants", "streams/core/dedup.py", {"m1": 1, "m2": 0})
    assert mutate.main(["dedup", "--report-only", "--survivors"]) == 0
    assert capsys.readouterr().out.splitlines()[2:] == ["| dedup | 2 | 1 | 50.0 % |", "  dedup: m2"]
