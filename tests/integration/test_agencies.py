"""``intelshare agencies register`` and ``list`` on a real broker: a malformed country is refused,
the same details again change nothing, and other details need ``--replace`` (issue 17)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.clients import admin_client
from tests.integration.exchange import Exchange

pytestmark = pytest.mark.integration


def _exchange(bootstrap: str, home: Path) -> Exchange:
    exchange = Exchange(bootstrap, home, dict(os.environ))
    exchange.cli("keys", "generate", "--agency", "a-one")
    return exchange


@pytest.fixture
def x(kafka_bootstrap: str, tmp_path: Path) -> Exchange:
    return _exchange(kafka_bootstrap, tmp_path)


@pytest.fixture(scope="module")
def refusing(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """One exchange for every refused country: none of them registers anything."""
    return _exchange(kafka_bootstrap, tmp_path_factory.mktemp("refusing"))


def register(x: Exchange, *extra: str, name: str = "Agency One") -> Any:
    pub = str(x.home / "keys" / "a-one.pub")
    return x.cli(
        "agencies", "register", "--id", "a-one", "--name", name, "--public-key", pub, *extra,
        ok=False,
    )  # fmt: skip


def listed(x: Exchange) -> list[dict[str, Any]]:
    done = x.cli("agencies", "list", "--json")
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize(
    "country", ["kz", "KAZ", "", "K", "K1", "KZ\nX", "KZ ", "\u041a\u0417", "A" * 5000]
)
def test_a_country_that_is_not_iso_3166_alpha_2_is_refused(
    refusing: Exchange, country: str
) -> None:
    """Lower case, three letters, empty, digits, a newline, Cyrillic look-alikes and a very long
    value are each refused with exit 2, naming --country, the value (escaped, cut short) and
    what is expected; nothing is registered."""
    done = register(refusing, "--country", country)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    message = done.stderr.strip()
    assert message.startswith("intelshare: agency rejected: --country: ")
    assert "is not an ISO 3166-1 alpha-2 code (two upper-case letters, e.g. KZ)" in message
    assert "\n" not in message
    assert len(message) < 250
    assert repr(country)[:20] in message
    assert listed(refusing) == []


def test_registering_the_same_details_again_changes_nothing(x: Exchange) -> None:
    """The first registration publishes the record; the same details again exit 0, say
    "unchanged" and keep the first registration time."""
    first = register(x, "--country", "KZ")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("registered a-one key ")
    before = listed(x)
    again = register(x, "--country", "KZ")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("unchanged a-one key ")
    assert listed(x) == before
    assert before[0]["country"] == "KZ"
    assert before[0]["name"] == "Agency One"


def test_other_details_are_refused_without_replace_and_taken_with_it(x: Exchange) -> None:
    """A new name or country, or a new key after rotation, is refused (exit 1, the record kept,
    the message naming what differs and --replace); with --replace it is published."""
    assert register(x, "--country", "KZ").returncode == 0
    kept = listed(x)

    renamed = register(x, "--country", "KG", name="Agency Two")
    assert renamed.returncode == 1
    assert "already registered with other details" in renamed.stderr
    assert "name 'Agency One' -> 'Agency Two'" in renamed.stderr
    assert "country 'KZ' -> 'KG'" in renamed.stderr
    assert "--replace" in renamed.stderr
    assert listed(x) == kept

    x.cli("keys", "rotate", "--agency", "a-one")
    rotated = register(x, "--country", "KZ")
    assert rotated.returncode == 1
    assert f"public key {kept[0]['key_id']} -> " in rotated.stderr
    assert listed(x) == kept

    replaced = register(x, "--country", "KZ", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.startswith("replaced a-one key ")
    now = listed(x)
    assert len(now) == 1
    assert now[0]["key_id"] != kept[0]["key_id"]
    assert now[0]["key_id"] in replaced.stdout


def test_list_shows_a_table_or_json_lines_and_says_when_empty(x: Exchange) -> None:
    """Empty: nothing on stdout, "no agencies registered" on stderr, exit 0. Then one table line
    per agency, sorted by id, under a header; --json gives one object per agency."""
    empty = x.cli("agencies", "list")
    assert empty.stdout == ""
    assert "no agencies registered" in empty.stderr

    assert register(x, "--country", "KZ").returncode == 0
    x.cli("keys", "generate", "--agency", "a-zero")
    x.cli("agencies", "register", "--id", "a-zero", "--name", "International Body",
          "--public-key", str(x.home / "keys" / "a-zero.pub"))  # fmt: skip
    lines = x.cli("agencies", "list").stdout.splitlines()
    assert lines[0].split() == ["AGENCY", "NAME", "COUNTRY", "KEY", "ID", "RECEIPTS", "REGISTERED"]
    assert [line.split()[0] for line in lines[1:]] == ["a-one", "a-zero"]
    assert "Agency One" in lines[1]
    assert " KZ " in lines[1]
    assert " - " in lines[2]  # no country: an international body
    rows = listed(x)
    assert [r["agency_id"] for r in rows] == ["a-one", "a-zero"]
    assert rows[1]["country"] is None
    assert {r["key_id"] for r in rows} <= set(" ".join(lines).split())
    assert all(r["registered_at"] and r["public_key"] and r["signing_key"] for r in rows)


def test_reference_load_registers_an_agency_as_register_does(x: Exchange, tmp_path: Path) -> None:
    """An agency line of `reference load` gets its feed; the same line again changes nothing;
    a line with another key is refused (exit 1, the registered key kept) unless --replace."""
    key = (x.home / "keys" / "a-one.pub").read_text().strip()
    line = {"type": "agency", "agency_id": "a-one", "name": "Agency One", "public_key": key}
    file = tmp_path / "agency.jsonl"
    file.write_text(json.dumps(line) + "\n")
    first = x.cli("reference", "load", str(file))
    assert f"{x.settings.topic_prefix}intel.ref.agencies\t1" in first.stdout
    assert f"registered agency a-one key {listed(x)[0]['key_id']}" in first.stderr
    with admin_client(x.settings) as admin:
        assert f"{x.settings.topic_prefix}intel.feed.a-one" in admin.list_topics()

    again = x.cli("reference", "load", str(file))
    assert "unchanged agency a-one" in again.stderr
    assert "intel.ref.agencies" not in again.stdout

    x.cli("keys", "rotate", "--agency", "a-one")
    rotated = (x.home / "keys" / "a-one.pub").read_text().strip()
    assert rotated != key
    file.write_text(json.dumps(line | {"public_key": rotated}) + "\n")
    before = listed(x)[0]["key_id"]
    refused = x.cli("reference", "load", str(file), ok=False)
    assert refused.returncode == 1
    assert (
        "rejected agency a-one: already registered with other details (public key" in refused.stderr
    )
    assert "--replace" in refused.stderr
    assert "0 loaded, 1 rejected" in refused.stderr
    assert listed(x)[0]["key_id"] == before

    replaced = x.cli("reference", "load", "--replace", str(file))
    assert "replaced agency a-one" in replaced.stderr
    assert listed(x)[0]["key_id"] != before
