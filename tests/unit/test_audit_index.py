"""The oversight index, without a broker: incremental verification of records and checkpoints,
a rebuild equal to the incremental index, a changed log reported, keyset pages that return
every record exactly once, counts and receipts; each on SQLite and on a real PostgreSQL server
(``INTELSHARE_OVERSIGHT_DB``, the session's throwaway one from ops/postgres.py)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ops.synthlog import synthetic_records
from streams.audit.chain import seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.index import AuditIndex
from streams.audit.indexquery import SORTS, chart_points, count, counts, matching, page, stats
from streams.audit.merkle import leaf_hash, tree_hash
from streams.audit.receipts import make_receipt
from streams.audit.records import AuditFilter, matches, parse_filter
from streams.audit.records import stats as record_stats
from streams.audit.verify import VerificationKeys
from streams.core.crypto import key_id
from streams.errors import ConfigError

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key().public_bytes_raw())
KEYS = VerificationKeys({KID: KEY.public_key()}, {})
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 28, tzinfo=UTC)

Opener = Callable[..., AuditIndex]
"""``opener(name=None, keys=KEYS)``: the index called ``name`` (the same one again when named
again; a new empty one for None)."""


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Indexes on the backend of the parameter: SQLite files, or schemas of one PostgreSQL
    database."""
    opened: list[AuditIndex] = []
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    run = uuid.uuid4().hex[:12]

    def open_index(name: str | None = None, keys: VerificationKeys = KEYS) -> AuditIndex:
        name = name or uuid.uuid4().hex[:12]
        if url is None:
            index = AuditIndex.open(tmp_path / f"{name}.sqlite", keys)
        else:
            index = AuditIndex.open(url, keys, schema=f"t{run}-{name}")
        opened.append(index)
        return index

    yield open_index
    for index in opened:
        index.close()


def _log(n: int = 120) -> list[dict[str, Any]]:
    return list(synthetic_records(n, KEY, START, step=3600.0))


def _checkpoint(
    chain: list[dict[str, Any]], size: int, key: Ed25519PrivateKey = KEY
) -> dict[str, Any]:
    return sign_checkpoint(
        tree_size=size, root_hash=tree_hash([leaf_hash(r["hash"]) for r in chain[:size]]),
        head_hash=chain[size - 1]["hash"], key_id=KID, signing_key=key, now=START,
    )  # fmt: skip


def _offsets(items: list[dict[str, Any]], first: int = 0) -> list[tuple[int, dict[str, Any]]]:
    """Offsets as a transactional topic has them: a gap (the commit marker) after each."""
    return [(2 * (first + i), item) for i, item in enumerate(items)]


def _incremental(
    opener: Opener, chain: list[dict[str, Any]], sizes: list[int], name: str | None = None
) -> AuditIndex:
    """Fed as `oversight serve` feeds it: checkpoints first, then the records, in rounds."""
    index = opener(name)
    done = 0
    for n, size in enumerate(sizes):
        index.add_checkpoints([(n, _checkpoint(chain, size))])
        index.add_records(_offsets(chain[done:size], done), NOW)
        done = size
    return index


def test_each_checkpoint_is_verified_against_the_records_it_covers(opener: Opener) -> None:
    """Every size from 1 to 70: the root from the index's kept Merkle nodes is the signed one."""
    chain = _log(70)
    index = _incremental(opener, chain, list(range(1, 71)))
    status = index.status()
    assert status.sound, status.detail
    assert status.verified == 70
    assert status.checkpoint is not None
    assert status.checkpoint["tree_size"] == 70
    assert status.checked_at == NOW


def test_rebuilt_index_equals_the_incremental_one(opener: Opener) -> None:
    """Fed in rounds (and reopened in between) or in one go from the log: the same tables."""
    chain = _log(150)
    first = _incremental(opener, chain, [7, 64, 65, 100], "index")
    first.close()
    again = opener("index")
    again.add_checkpoints([(4, _checkpoint(chain, 150))])
    again.add_records(_offsets(chain[100:], 100), NOW + timedelta(minutes=1))
    rebuilt = opener()
    sizes = (7, 64, 65, 100, 150)
    rebuilt.add_checkpoints([(n, _checkpoint(chain, s)) for n, s in enumerate(sizes)])
    rebuilt.add_checkpoints([])
    rebuilt.add_records(_offsets(chain), NOW)
    assert rebuilt.status().sound
    assert again.status().sound
    assert rebuilt.positions().audit == again.positions().audit == 299
    assert rebuilt.fingerprint() == again.fingerprint()
    assert rebuilt.fingerprint() != _incremental(opener, chain[:149], [149]).fingerprint()


def test_a_changed_record_stops_the_index_at_its_sequence(opener: Opener) -> None:
    """A record whose content no longer matches its hash is not indexed, nor any after it."""
    chain = _log(20)
    changed = dict(chain[12], recipient="someone-else")
    index = opener()
    added = index.add_records(_offsets([*chain[:12], changed, *chain[13:]]), NOW)
    status = index.status()
    assert (added, status.sound, status.broken_at, status.verified) == (12, False, 12, 12)
    assert "does not match its hash" in status.detail
    assert index.positions().audit == 23


def test_a_checkpoint_the_records_disagree_with_is_reported(opener: Opener) -> None:
    """A signed checkpoint over a root the records do not give, and one beyond the log's end."""
    chain = _log(10)
    forged = sign_checkpoint(
        tree_size=5, root_hash=bytes(32), head_hash=chain[4]["hash"], key_id=KID,
        signing_key=KEY, now=START,
    )  # fmt: skip
    index = opener()
    index.add_checkpoints([(0, forged)])
    index.add_records(_offsets(chain), NOW)
    assert not index.status().sound
    assert "do not hash to the signed root" in index.status().detail
    forked = _incremental(opener, chain, [10])
    forked.add_checkpoints([(9, _checkpoint(_resealed(chain, 3), 10))])
    assert "different roots" in forked.status().detail
    forked._recheck_checkpoints()  # as on opening again: the evidence is kept
    assert "different roots" in forked.status().detail
    cut = opener()
    cut.add_checkpoints([(0, _checkpoint(chain, 10))])
    cut.add_records(_offsets(chain[:8]), NOW)
    assert "records were removed from its end" in cut.status().detail


def _resealed(chain: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """The log an insider with the key rewrote from ``at``: changed, re-chained, re-signed."""
    out = chain[:at]
    for record in chain[at:]:
        pending = dict(record, purpose="rewritten") if record is chain[at] else dict(record)
        out.append(
            seal_record(pending, sequence=record["sequence"], prev_hash=out[-1]["hash"],
                        key_id=KID, signing_key=KEY, now=record["recorded_at"])
        )  # fmt: skip
    return out


def test_a_record_changed_in_the_log_after_indexing_is_reported(opener: Opener) -> None:
    """The index holds a record the log no longer does: compare names it; a cut log too."""
    chain = _log(30)
    index = _incremental(opener, chain, [30])
    assert index.compare(_offsets(chain)) is None
    assert index.compare(_offsets(_resealed(chain, 17))) == (
        "record 17 of the index is not in the log as indexed: rebuild the index"
    )
    assert index.compare(_offsets(chain[:25])) == "the log holds only 25 of the 30 records indexed"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def paged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[dict[str, Any]], AuditIndex]]:
    """A log of 200 and its index, built once per backend for the page tests (which only
    read it)."""
    if request.param == "sqlite":
        where: Path | str = tmp_path_factory.mktemp("paged") / "index.sqlite"
    else:
        where = request.getfixturevalue("postgres_url")
    chain = _log(200)
    schema = f"p{uuid.uuid4().hex[:12]}"
    index = _incremental(lambda _: AuditIndex.open(where, KEYS, schema), chain, [50, 200])
    yield chain, index
    index.close()


@pytest.mark.parametrize(("sort", "newest_first"), list(itertools.product(SORTS, (True, False))))
def test_pages_return_every_matching_record_exactly_once(
    paged: tuple[list[dict[str, Any]], AuditIndex], sort: str, newest_first: bool
) -> None:
    """Keyset pages of 7, followed by cursor to the end, in every order and with filters."""
    chain, index = paged
    for wanted in (
        AuditFilter(), AuditFilter(recipient="kz-knb"),
        AuditFilter(since=START + timedelta(hours=30), until=START + timedelta(hours=150)),
        AuditFilter(subject=chain[3]["subjects"][0]),
    ):  # fmt: skip
        seen: list[int] = []
        after = None
        while True:
            found = page(
                index.db, wanted, sort=sort, newest_first=newest_first, after=after, limit=7
            )
            seen += [r["sequence"] for r in found.records]
            if found.next is None:
                break
            after = found.next
        expected = [r for r in chain if matches(r, wanted)]
        assert sorted(seen) == [r["sequence"] for r in expected]
        assert len(seen) == len(set(seen)) == count(index.db, wanted)
        column = {"time": "sequence", "agreement": "agreement_id", "event": "event_id"}.get(
            sort, sort
        )
        keys = [(chain[s][column], s) for s in seen]
        assert keys == sorted(keys, reverse=newest_first)
        assert [r["sequence"] for r in matching(index.db, wanted, sort, newest_first)] == seen


def test_a_cursor_not_made_by_the_page_is_refused(opener: Opener) -> None:
    index = _incremental(opener, _log(5), [5])
    with pytest.raises(ConfigError, match="not a cursor"):
        page(index.db, AuditFilter(), after="not-a-cursor")
    with pytest.raises(ConfigError, match="sort"):
        page(index.db, AuditFilter(), sort="narrative")


def test_counts_and_charts_come_from_the_index(opener: Opener) -> None:
    """Per-day totals give what counting the records gives, filtered or not."""
    chain = _log(200)
    index = _incremental(opener, chain, [200])
    assert stats(index.db) == record_stats(chain)
    for wanted in (
        AuditFilter(),
        AuditFilter(agreement="KZ-KNB-2026-01"),
        AuditFilter(event="ev-00000003"),
    ):
        chosen = [r for r in chain if matches(r, wanted)]
        per_recipient = counts(index.db, wanted, "recipient")
        assert per_recipient == {r: sum(c["recipient"] == r for c in chosen) for r in per_recipient}
        assert sum(per_recipient.values()) == len(chosen)
        assert sum(chart_points(index.db, wanted, "agreement")[1]) == len(chosen)


def test_only_verified_receipts_count_and_the_first_time_is_kept(opener: Opener) -> None:
    chain = _log(3)
    agency = Ed25519PrivateKey.generate()
    recipient = chain[0]["recipient"]
    keys = {recipient: agency.public_key().public_bytes_raw()}
    early, late = START + timedelta(hours=1), START + timedelta(hours=2)
    index = _incremental(opener, chain, [3])
    index.add_receipts(
        [(0, 0, make_receipt(chain[0]["disclosure_id"], recipient, agency, late))], keys
    )
    index.add_receipts(
        [
            (0, 1, make_receipt(chain[0]["disclosure_id"], recipient, agency, early)),
            (
                1,
                0,
                make_receipt(
                    chain[1]["disclosure_id"], recipient, Ed25519PrivateKey.generate(), early
                ),
            ),
        ],
        keys,
    )
    times = dict(index.db.execute("SELECT disclosure_id, received_at FROM receipts"))
    assert times == {chain[0]["disclosure_id"]: int(early.timestamp() * 1000)}
    assert index.positions().receipts == {0: 2, 1: 1}


def test_an_index_opened_with_other_keys_starts_again(opener: Opener) -> None:
    """Records verified with one set of keys are not shown as verified under another."""
    _incremental(opener, _log(5), [5], "index").close()
    assert opener("index").count() == 5
    other = Ed25519PrivateKey.generate().public_key()
    again = opener("index", VerificationKeys({"other": other}, {}))
    assert (again.count(), again.positions().audit) == (0, 0)


def _mixed(n: int = 60) -> list[dict[str, Any]]:
    """A sound chain whose records are of several kinds (issue 13): every third a collection,
    every fifth a consultation, the others disclosures."""
    chain, prev = [], bytes(32)
    chained = ("sequence", "prev_hash", "hash", "signature", "key_id", "recorded_at")
    for i, record in enumerate(_log(n)):
        kind = "collection" if i % 3 == 0 else "consultation" if i % 5 == 0 else "disclosure"
        pending = {k: v for k, v in record.items() if k not in chained}
        pending |= {"kind": kind, "refers_to": None, "reason": None, "useful": None}
        sealed = seal_record(
            pending, sequence=i, prev_hash=prev, key_id=KID, signing_key=KEY,
            now=record["recorded_at"],
        )  # fmt: skip
        chain.append(sealed)
        prev = sealed["hash"]
    return chain


def test_the_kind_filter_pages_and_counts_one_kind(opener: Opener) -> None:
    """Filtered by kind, the index's pages hold every record of that kind once, its counts
    and stats agree with the records', and a kind that is none is refused."""
    chain = _mixed()
    index = _incremental(opener, chain, [60])
    assert index.status().sound, index.status().detail
    for kind in ("collection", "consultation", "disclosure", "erasure"):
        wanted = parse_filter({"kind": kind, "recipient": ""})
        chosen = [r["sequence"] for r in chain if matches(r, wanted)]
        assert chosen == [r["sequence"] for r in chain if r["kind"] == kind]
        assert count(index.db, wanted) == len(chosen)
        found, after = [], None
        while True:
            got = page(index.db, wanted, newest_first=False, after=after, limit=7)
            found += [r["sequence"] for r in got.records]
            if got.next is None:
                break
            after = got.next
        assert found == chosen
        assert sum(chart_points(index.db, wanted, "recipient")[1]) == len(chosen)
    assert stats(index.db)["per_kind"] == record_stats(chain)["per_kind"]
    with pytest.raises(ConfigError, match="kind"):
        parse_filter({"kind": "gossip"})
