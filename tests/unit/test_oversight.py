"""The oversight page, without a broker: chain status and key hints, filters that drive the
totals and charts, columns, order, agreement status, escaping, chart axes, cache, API."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.audit.chain import GENESIS, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.index import AuditIndex
from streams.audit.merkle import leaf_hash, tree_hash
from streams.audit.records import AuditFilter, parse_filter
from streams.audit.verify import VerificationKeys, verify_log
from streams.core.crypto import key_id
from streams.core.policy import Agreement, parse_agreement
from streams.errors import ConfigError, NotAuthorisedError
from streams.kafka.auditindex import Round
from streams.settings import Settings
from streams.web import app as web_app
from streams.web.cache import RefreshingValue
from streams.web.chart import chart_svg
from streams.web.page import disclosure_row
from streams.web.page import render_page as render_html
from tests.factories import NOW

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key().public_bytes_raw())
KEYS = {KID: KEY.public_key()}
VERIFY = VerificationKeys(KEYS, {})
SVG = "{http://www.w3.org/2000/svg}"


def render_page(*args: Any, **kwargs: Any) -> str:
    """The rendered page, read as text (see :func:`plain`)."""
    return plain(render_html(*args, **kwargs))


def plain(page: str) -> str:
    """The page without its bidi isolation (``<bdi>``, ``<time>``): what it says, as these
    tests read it (tests/unit/test_i18n_page.py checks the isolation itself)."""
    return re.sub(r"</?bdi>|<time [^>]*>|</time>", "", page)


def records(recipients: list[str]) -> list[dict[str, Any]]:
    """A sound chain with one disclosure per entry of ``recipients``, a minute apart."""
    chain: list[dict[str, Any]] = []
    for i, recipient in enumerate(recipients):
        pending = {
            "sequence": -1, "disclosure_id": f"d-{i}", "event_id": f"e-{i}",
            "agreement_id": f"A-{recipient}", "agreement_version": 2, "recipient": recipient,
            "purpose": "prevention", "legal_basis": "statute, art. 1",
            "fields_disclosed": ["event_id", "category"], "subjects": [f"ps-{i % 2}"],
            "payload_sha256": bytes(32), "disclosure_sha256": bytes(32),
            "disclosed_at": NOW + timedelta(minutes=i), "recorded_at": NOW, "prev_hash": b"",
            "hash": b"", "key_id": "", "signature": b"",
        }  # fmt: skip
        chain.append(
            seal_record(
                pending,
                sequence=i,
                prev_hash=chain[-1]["hash"] if chain else GENESIS,
                key_id=KID,
                signing_key=KEY,
                now=NOW,
            )
        )
    return chain


def checkpoint(chain: list[dict[str, Any]]) -> dict[str, Any]:
    return sign_checkpoint(
        tree_size=len(chain),
        root_hash=tree_hash([leaf_hash(r["hash"]) for r in chain]),
        head_hash=chain[-1]["hash"],
        key_id=KID,
        signing_key=KEY,
        now=NOW,
    )


def test_sound_chain_is_verified_against_its_checkpoint() -> None:
    """A sound log under a matching checkpoint is reported verified with its record count."""
    chain = records(["a", "b", "a"])
    status = verify_log(chain, checkpoint(chain), VERIFY)
    assert status.sound
    assert status.records == 3


def test_changed_record_is_reported_by_sequence() -> None:
    """A record changed after signing is reported with its sequence number."""
    chain = records(["a", "b", "a", "b"])
    chain[2] = dict(chain[2], recipient="c")
    status = verify_log(chain, None, VERIFY)
    assert not status.sound
    assert status.broken_at == 2


def test_cut_tail_is_found_against_the_checkpoint() -> None:
    """Records removed from the end are caught by the checkpoint, not by the chain."""
    chain = records(["a", "b", "a"])
    status = verify_log(chain[:2], checkpoint(chain), VERIFY)
    assert not status.sound
    assert "checkpoint" in status.detail


def test_filters_from_query_ignore_empty_values_and_refuse_bad_times() -> None:
    """Empty fields mean no filter; a time without a zone is a ConfigError."""
    wanted = parse_filter({"recipient": "a", "agreement": "", "since": "2026-11-01T00:00Z"})
    assert wanted.recipient == "a"
    assert wanted.agreement is None
    assert wanted.since is not None
    with pytest.raises(ConfigError, match="time zone"):
        parse_filter({"until": "2026-11-01T00:00"})


def test_page_counts_filters_and_shows_no_payload() -> None:
    """Unfiltered, the totals are the whole log's; no payload or digest reaches the page."""
    chain = records(["a", "b", "a"])
    page = render_page(chain, checkpoint(chain), verify_log(chain, None, VERIFY), AuditFilter())
    assert '<span id="total">3</span> of <span id="in-log">3</span>' in page
    assert '<span id="shown">3</span>' in page
    assert page.count('<tr class="disclosure">') == 3
    assert '<td class="key nowrap">b</td><td class="count">1</td>' in page
    assert "A-a v2" in page
    assert "payload" not in page.lower().replace("/api/disclosures", "")
    assert '<select name="kind" id="f-kind">' in page  # issue 13: a filter per record kind
    assert '<option value="consultation">consultation</option>' in page
    only = render_page(
        chain, checkpoint(chain), verify_log(chain, None, VERIFY), AuditFilter(kind="collection")
    )
    assert '<span id="total">0</span>' in only  # these records are all disclosures


def test_everything_from_the_log_is_escaped() -> None:
    """A hostile value in the log appears as text, never as markup."""
    chain = records(["<script>alert(1)</script>"])
    page = render_page(chain, None, verify_log(chain, None, VERIFY), AuditFilter())
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_chart_has_a_bar_per_series_and_a_legend_with_totals() -> None:
    """Each series gets bars and a legend entry naming its total."""
    chain = records(["a", "b", "a"])
    svg = chart_svg("t", [(r["disclosed_at"], r["recipient"]) for r in chain])
    assert svg.startswith("<svg")
    assert svg.count("<rect") == 3 + 2  # three one-minute bars, two legend swatches
    assert "a: 2</text>" in svg
    assert "b: 1</text>" in svg
    assert "bars of 1 min" in svg
    assert chart_svg("empty", []).startswith("<svg")


def test_chart_of_a_long_span_uses_wider_bars() -> None:
    """Disclosures over months are drawn in bars of days, at most 30 of them."""
    points = [(NOW + timedelta(days=d), "a") for d in range(0, 120, 3)]
    svg = chart_svg("t", points)
    assert "bars of 7 d" in svg
    assert svg.count("<rect") <= 30 + 1


def test_row_has_a_received_column_and_no_digest() -> None:
    """The API row names agreement and basis, leaves receipt empty, and carries no digests."""
    row = disclosure_row(records(["a"])[0])
    assert row["received"] is None
    assert row["legal_basis"] == "statute, art. 1"
    assert "payload_sha256" not in row


def test_the_index_is_read_again_only_when_stale_and_requests_do_not_wait() -> None:
    """Requests within the interval share one round; a stale one answers with the value at
    hand and starts the next round, whose result the following request sees."""
    reads: list[int] = []
    now = [0.0]

    def read() -> int:
        reads.append(1)
        return len(reads)

    async def scenario() -> list[int]:
        cache = RefreshingValue(read, 0, ttl=3.0, clock=lambda: now[0])
        seen = [await cache.get()]
        now[0] = 2.0
        seen.append(await cache.get())
        now[0] = 3.5
        seen.append(await cache.get())
        await asyncio.sleep(0.05)
        seen.append(await cache.get())
        return seen

    assert asyncio.run(scenario()) == [1, 1, 1, 2]
    assert len(reads) == 2


def _page(chain: list[dict[str, Any]], wanted: AuditFilter, **extra: Any) -> str:
    return render_page(chain, None, verify_log(chain, None, VERIFY), wanted, **extra)


def _svg(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 (SVG this test just made)


def _of_class(root: ElementTree.Element, tag: str, cls: str) -> list[ElementTree.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == cls]


def test_filters_drive_the_charts_and_totals() -> None:
    """With a recipient chosen, the total, the counts per recipient and per agreement and the
    charts' legends count only that recipient's disclosures; the log's size is still given."""
    chain = records(["a", "b", "a"])
    page = _page(chain, AuditFilter("a"))
    assert '<span id="total">2</span> of <span id="in-log">3</span>' in page
    assert '<span id="shown">2</span>' in page
    assert '<td class="key nowrap">a</td><td class="count">2</td>' in page
    assert '<td class="key nowrap">b</td>' not in page
    assert "A-b v2" not in page
    assert "a: 2</text>" in page
    assert "b: 1</text>" not in page
    assert '<option value="b">' in page  # the other recipient can still be chosen
    by_event = _page(chain, parse_filter({"event": "e-1"}))
    assert '<span id="total">1</span>' in by_event
    assert "b: 1</text>" in by_event
    assert "a: " not in by_event


def test_since_and_until_have_fields_that_keep_their_values() -> None:
    """since and until are fields of the form, filled with the times being applied, so
    pressing "filter" again keeps them; they narrow the totals like any filter."""
    chain = records(["a", "b", "a", "b"])  # 12:00, 12:01, 12:02, 12:03
    wanted = parse_filter({"since": "2026-11-26T12:01:00Z", "until": "2026-11-26T14:02:30+02:00"})
    page = _page(chain, wanted)
    assert 'name="since" id="f-since" value="2026-11-26T12:01:00Z"' in page
    assert 'name="until" id="f-until" value="2026-11-26T12:02:30Z"' in page
    assert '<span id="total">2</span>' in page
    assert re.findall(r'<td class="sequence">(\d+)</td>', page) == ["2", "1"]
    empty = _page(chain, AuditFilter())
    assert 'name="since" id="f-since" value=""' in empty


def test_nothing_matching_says_so_and_keeps_the_unknown_choice() -> None:
    """A recipient with no disclosure stays selected and the page says nothing matches."""
    page = _page(records(["a"]), AuditFilter("zzz"))
    assert '<option value="zzz" selected>' in page
    assert '<p id="none">' in page
    assert '<span id="total">0</span>' in page


def test_rows_are_newest_first() -> None:
    """The table lists the highest sequence number first."""
    page = _page(records(["a", "b", "a", "b"]), AuditFilter())
    assert re.findall(r'<td class="sequence">(\d+)</td>', page) == ["3", "2", "1", "0"]


def test_table_has_event_disclosure_and_subject_columns() -> None:
    """Each row names its event and subjects (each a link that filters on it) and its
    disclosure id."""
    page = _page(records(["a"]), AuditFilter())
    head = re.findall(r"<th>([^<]+)</th>", page.split('id="disclosures"')[1])
    assert {"event", "disclosure", "subjects"} <= set(head)
    assert '<td class="event nowrap"><a href="/?event=e-0">e-0</a></td>' in page
    assert '<td class="disclosure nowrap">d-0</td>' in page
    assert '<span class="nowrap"><a href="/?subject=ps-0">ps-0</a></span>' in page


def test_times_and_agreement_ids_do_not_wrap() -> None:
    """Times, event and disclosure ids and agreements sit in cells that never wrap."""
    page = _page(records(["a"]), AuditFilter())
    assert ".nowrap{white-space:nowrap}" in page
    for cell in ("time", "event", "disclosure", "agreement", "received"):
        assert f'<td class="{cell} nowrap">' in page, cell


def _agreement(ident: str, version: int, **changes: Any) -> Agreement:
    fields = {
        "id": ident, "version": version, "recipient": "kz-knb", "purpose": "p",
        "legal_basis": "b", "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2030-01-01T00:00:00Z", "revoked": False,
        "match": {"max_tlp": "AMBER"}, "disclose": ["event_id"],
    }  # fmt: skip
    return parse_agreement(fields | changes)


def test_each_disclosure_shows_the_status_of_its_agreement() -> None:
    """The version a disclosure was made under reads active, expired, revoked in a later
    version, superseded, or not published, from the latest published agreements."""
    chain = records(["a", "b", "c", "d", "e"])  # agreements A-a ... A-e, all v2
    published = {
        "A-a": _agreement("A-a", 2),
        "A-b": _agreement("A-b", 3, revoked=True),
        "A-c": _agreement("A-c", 2, valid_until="2026-11-01T00:00:00Z"),
        "A-e": _agreement("A-e", 3),
    }
    page = _page(chain, AuditFilter(), agreements=published, now=NOW)
    assert '<td class="status st-active">active</td>' in page
    assert '<td class="status st-revoked">revoked in v3</td>' in page
    assert '<td class="status st-expired">expired</td>' in page
    assert '<td class="status st-unknown">not published</td>' in page
    assert '<td class="status st-superseded">superseded by v3 (active)</td>' in page
    assert 'id="agreements-note"' not in page
    per_agreement = page.split('id="per-agreement"')[1].split("</table>")[0]
    assert "revoked in v3" in per_agreement


def test_unreadable_agreements_are_said_to_be_unknown() -> None:
    """Without the agreements, each status reads unknown and the page says why."""
    page = _page(records(["a"]), AuditFilter(), agreements_problem="not allowed")
    assert '<td class="status st-unknown">unknown</td>' in page
    assert "Agreement status unknown: not allowed." in page


def test_a_chain_checked_with_the_wrong_key_names_the_key_setting() -> None:
    """Verified with another key, the chain is BROKEN and the page names the key id that
    signed, the ones given and the setting to check; a log changed after signing gets no
    such hint."""
    other = Ed25519PrivateKey.generate().public_key()
    other_id = key_id(other.public_bytes_raw())
    chain = records(["a", "b"])
    status = verify_log(chain, None, VerificationKeys({other_id: other}, {}))
    page = render_page(chain, None, status, AuditFilter(), key_ids=[other_id])
    assert "BROKEN at sequence 0" in page
    hint = page.split('id="key-hint">')[1].split("</p>")[0]
    assert f"signed by key id {KID}" in hint
    assert f"not among the exchange keys given ({other_id})" in hint
    assert "--exchange-key" in hint
    assert "$INTELSHARE_HOME/keys" in hint
    chain[1] = dict(chain[1], recipient="c")
    changed = render_page(chain, None, verify_log(chain, None, VERIFY), AuditFilter())
    assert "BROKEN at sequence 1" in changed
    assert 'id="key-hint"' not in changed


def _bars_and_ticks(svg: str) -> tuple[float, list[ElementTree.Element], list[tuple[float, str]]]:
    root = _svg(svg)
    axis = _of_class(root, "line", "x-axis")[0]
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    ticks = [(float(t.get("x", 0)), t.text or "") for t in _of_class(root, "text", "x-tick")]
    return float(axis.get("y1", 0)), bars, ticks


def test_a_short_span_has_an_axis_as_long_as_its_bars() -> None:
    """Three one-minute bars sit on an axis that ends with them, in a chart no wider than
    needed, not at one end of a wide empty axis."""
    svg = chart_svg("t", [(NOW + timedelta(minutes=m), "a") for m in range(3)])
    root = _svg(svg)
    axis = _of_class(root, "line", "x-axis")[0]
    _, bars, _ = _bars_and_ticks(svg)
    last_edge = max(float(b.get("x", 0)) + float(b.get("width", 0)) for b in bars)
    assert float(axis.get("x2", 0)) - last_edge < 5
    assert float(axis.get("x1", 0)) <= min(float(b.get("x", 0)) for b in bars)
    assert int(root.get("width", 0)) < 640


@pytest.mark.parametrize(
    ("step", "count", "pattern", "contexts"),
    [
        (timedelta(minutes=1), 30, r"\d\d:\d\d", ["11-26"]),
        (timedelta(hours=1), 29, r"\d\d:\d\d", ["11-26", "11-27"]),
        (timedelta(days=1), 29, r"\d\d-\d\d", ["2026"]),
        (timedelta(minutes=1), 3, r"\d\d:\d\d", ["11-26"]),
    ],
)
def test_tick_labels_are_short_spaced_and_below_the_bars(
    step: timedelta, count: int, pattern: str, contexts: list[str]
) -> None:
    """Minute and hour bars are labelled HH:MM, day bars MM-DD, with the day (or year) under
    the first tick and where it changes; no two labels overlap, all sit below the axis and
    every bar above it."""
    svg = chart_svg("t", [(NOW + step * i, "a") for i in range(count)])
    base, bars, ticks = _bars_and_ticks(svg)
    assert ticks
    assert all(re.fullmatch(pattern, text) for _, text in ticks)
    for (x1, t1), (x2, t2) in itertools.pairwise(ticks):
        assert x2 - x1 >= 6.0 * (len(t1) + len(t2)) / 2 + 4, (t1, t2)
    root = _svg(svg)
    assert [t.text for t in _of_class(root, "text", "x-context")] == contexts
    below = _of_class(root, "text", "x-tick") + _of_class(root, "text", "x-context")
    assert all(float(t.get("y", 0)) > base + 8 for t in below)
    assert all(float(b.get("y", 0)) + float(b.get("height", 0)) <= base + 0.1 for b in bars)
    assert len(bars) == count


def _feeding(chain: list[dict[str, Any]]) -> Any:
    """A stand-in for reading the log into the index: feeds ``chain`` (what is new of it)."""

    def refresh(settings: Settings, index: AuditIndex, now: Any = None) -> Round:
        added = index.add_records(list(enumerate(chain))[index.count() :], NOW)
        return Round(added, 0, None)

    return refresh


def test_the_api_lists_newest_first_with_statuses_and_agreements_may_be_unreadable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The JSON rows come newest first with each agreement's status; a broker user that may
    not read the agreements still gets the page, saying why the status is unknown."""
    chain = records(["a", "b", "a"])
    monkeypatch.setattr(web_app, "refresh_index", _feeding(chain))
    published = {"A-a": _agreement("A-a", 3, revoked=True)}

    def agreements(settings: Settings) -> dict[str, Agreement]:
        if published:
            return published
        raise NotAuthorisedError("not allowed to read intel.agreements")

    monkeypatch.setattr(web_app, "published_agreements", agreements)

    async def scenario() -> tuple[dict[str, Any], int, str]:
        app = web_app.oversight_app(Settings(home=tmp_path), VERIFY, ttl=0)
        async with TestClient(TestServer(app)) as client:
            api = await (await client.get("/api/disclosures?recipient=a")).json()
            published.clear()
            response = await client.get("/")
            return api, response.status, plain(await response.text())

    api, status, page = asyncio.run(scenario())
    assert [row["sequence"] for row in api["disclosures"]] == [2, 0]
    assert {row["agreement_status"] for row in api["disclosures"]} == {"revoked in v3"}
    assert status == 200
    assert "Agreement status unknown" in page
    assert "not allowed to read intel.agreements" in page


def test_the_page_answers_only_to_its_own_host_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A request whose Host is another name (DNS rebinding: evil.example resolved to
    127.0.0.1) gets 421 and no data; 127.0.0.1, localhost and an --allow-host name are
    served, with or without a port."""
    monkeypatch.setattr(web_app, "refresh_index", _feeding(records(["a"])))
    monkeypatch.setattr(web_app, "published_agreements", lambda settings: {})

    async def statuses() -> dict[str, tuple[int, str]]:
        app = web_app.oversight_app(Settings(home=tmp_path), VERIFY, ttl=0, hosts=["ombud.lan"])
        found = {}
        async with TestClient(TestServer(app)) as client:
            for host in (
                "evil.example",
                "evil.example:6067",
                "127.0.0.1.evil.example",
                "localhost",
                "127.0.0.1:6067",
                "[::1]:6067",
                "OMBUD.lan:80",
                "",
            ):
                for path in ("/", "/api/disclosures"):
                    response = await client.get(path, headers={"Host": host})
                    found[f"{host} {path}"] = (response.status, await response.text())
        return found

    found = asyncio.run(statuses())
    for key, (status, body) in found.items():
        refused = key.split(" ")[0] in (
            "evil.example",
            "evil.example:6067",
            "127.0.0.1.evil.example",
            "",
        )
        if refused:
            assert status == 421, key
            assert "--allow-host NAME" in body
            assert "disclosure_id" not in body
        else:
            assert status == 200, (key, body[:200])


def test_the_api_pages_by_cursor_and_downloads_give_the_whole_filter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """API pages of 2 followed by ``next`` give every matching disclosure once, newest first;
    the page links the next page; CSV and JSON lines downloads hold the whole filtered log."""
    chain = records(["a", "b", "a", "a", "b", "a", "a"])
    monkeypatch.setattr(web_app, "refresh_index", _feeding(chain))
    monkeypatch.setattr(web_app, "published_agreements", lambda settings: {})

    async def scenario() -> tuple[list[int], str, str, str, int]:
        app = web_app.oversight_app(Settings(home=tmp_path), VERIFY, ttl=0)
        seen: list[int] = []
        async with TestClient(TestServer(app)) as client:
            after = ""
            while True:
                got = await client.get(f"/api/disclosures?recipient=a&limit=2{after}")
                api = await got.json()
                assert api["count"] == 5
                seen += [row["sequence"] for row in api["disclosures"]]
                if api["next"] is None:
                    break
                after = f"&after={api['next']}"
            page = plain(await (await client.get("/?recipient=a")).text())
            csv = await (await client.get("/download.csv?recipient=a")).text()
            jsonl = await (await client.get("/download.jsonl?recipient=b")).text()
            bad = (await client.get("/api/disclosures?after=nonsense")).status
        return seen, page, csv, jsonl, bad

    seen, page, csv, jsonl, bad = asyncio.run(scenario())
    assert seen == [6, 5, 3, 2, 0]
    assert 'id="verified">7<' in page
    assert 'id="last"' in page  # five fit on one page of the page
    assert 'href="/download.csv?recipient=a"' in page
    assert [line.split(",")[0] for line in csv.splitlines()] == [
        "sequence",
        "0",
        "2",
        "3",
        "5",
        "6",
    ]
    assert [json.loads(line)["sequence"] for line in jsonl.splitlines()] == [1, 4]
    assert bad == 400


def test_years_of_disclosures_fit_in_thirty_bars() -> None:
    """Three years of a log (the scale of issue 15) are drawn in quarters, not 37 months."""
    start = NOW - timedelta(days=1100)
    points = [(start + timedelta(days=d), "a") for d in range(0, 1100, 5)]
    svg = chart_svg("per recipient", points)
    assert "bars of 91 d" in svg
    assert svg.count("<rect") <= 30
