"""Reading submit input (object, array, JSON lines) and preparing reports, without a broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.errors import ReportInvalidError
from streams.kafka.submit import Candidate, Submitter, read_reports
from streams.settings import Settings
from tests.factories import NOW, incident


def labels(text: str) -> list[tuple[str, bool]]:
    return [(c.label, c.problem is None) for c in read_reports(text, max_bytes=1024)]


def test_one_object() -> None:
    """A file holding one JSON object is one report."""
    assert labels(json.dumps(incident(), indent=2)) == [("report", True)]


def test_array() -> None:
    """A JSON array is one report per item."""
    assert labels(json.dumps([incident(), incident()])) == [("item 1", True), ("item 2", True)]


def test_json_lines_with_a_broken_line() -> None:
    """JSON lines: a malformed line is named and the others still count."""
    text = "\n".join([json.dumps(incident()), "{broken", "", json.dumps(incident())])
    assert labels(text) == [("line 1", True), ("line 2", False), ("line 4", True)]


def test_broken_array_is_one_problem() -> None:
    """An array that is not valid JSON is reported, not half-read."""
    assert labels('[{"a": 1}, {') == [("input", False)]


def test_empty_input_has_no_reports() -> None:
    """Blank input yields nothing."""
    assert labels("  \n ") == []


@pytest.fixture
def submitter(tmp_path: Path) -> Submitter:
    settings = Settings(max_report_bytes=2048, home=tmp_path)
    return Submitter(settings, clock=lambda: NOW)


def test_prepare_keys_by_event_id(submitter: Submitter) -> None:
    """A prepared report carries its event id as the key and the Avro value."""
    report = incident()
    prepared = submitter.prepare(Candidate("report", report, None))
    assert prepared.event_id == report["event_id"]
    assert submitter.codec.decode(prepared.value)["narrative"] == report["narrative"]


def test_oversized_encoded_report_is_rejected(submitter: Submitter) -> None:
    """A report over the encoded-size limit is rejected naming the report, never truncated."""
    with pytest.raises(ReportInvalidError, match="over the limit of 2048"):
        submitter.prepare(Candidate("line 1", incident(narrative="n" * 3000), None))


def test_unreadable_candidate_is_rejected_with_its_label(submitter: Submitter) -> None:
    """Input that was not JSON becomes a rejection that names where it was."""
    with pytest.raises(ReportInvalidError, match="line 9"):
        submitter.prepare(Candidate("line 9", None, "not valid JSON"))


def test_nothing_valid_sends_nothing(submitter: Submitter) -> None:
    """When every report is rejected no connection is made and nothing is sent."""
    result = submitter.submit([Candidate("item 1", incident(tlp="PINK"), None)])
    assert result.sent == []
    assert [r.label for r in result.rejected] == ["item 1"]


def test_a_byte_order_mark_is_accepted() -> None:
    """What common editors write before the first brace is not an error."""
    [one] = read_reports("\ufeff" + json.dumps(incident()), max_bytes=256 * 1024)
    assert one.problem is None


def test_a_pretty_printed_object_with_a_syntax_error_gives_one_error_where_it_is() -> None:
    """One trailing comma in a hand-written report: one problem with its line and column,
    not one per line."""
    text = json.dumps(incident(), indent=2).replace('"kind": "incident"', '"kind": "incident",,')
    found = list(read_reports(text, max_bytes=256 * 1024))
    assert len(found) == 1
    assert found[0].problem is not None
    assert "line 3 column" in found[0].problem


@pytest.mark.parametrize("text", ["[" * 50_000, '{"a":' * 50_000, "1\n" + "[" * 50_000])
def test_deep_nesting_is_a_problem_not_a_crash(text: str) -> None:
    """JSON nested thousands deep is refused, whole input or one line, never a traceback."""
    found = list(read_reports(text, max_bytes=256 * 1024))
    assert any(c.problem == "nested more than 32 levels deep" for c in found)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param('{"tlp": true, "kind": "incident", "tlp": "RED"}', "key 'tlp' appears twice",
                     id="duplicate-key"),
        pytest.param('{"grading": {"source": ' + "9" * 5000 + "}}", "a number of 5000 characters",
                     id="5000-digit-integer"),
        pytest.param('{"severity": 1e999}', "'1e999' is too large a number", id="infinite"),
        pytest.param('{"severity": NaN}', "NaN is not a JSON number", id="nan"),
        pytest.param("[" * 33 + "]" * 33, "nested more than 32 levels deep", id="33-levels"),
    ],
)  # fmt: skip
def test_input_discipline_names_the_problem_and_never_crashes(text: str, problem: str) -> None:
    """Duplicate keys (json would keep the last), over-long or non-finite numbers and deep
    nesting are each one problem saying what is wrong, whole input or one line of several."""
    lines = (text + "\n" + json.dumps(incident()),) if text.startswith("{") else ()
    for given in (text, *lines):  # an input that opens with [ is one array
        found = list(read_reports(given, max_bytes=256 * 1024))
        assert problem in (found[0].problem or ""), found[0]
        if "\n" in given:  # JSON lines: the good line after it is still read
            assert found[-1].problem is None
