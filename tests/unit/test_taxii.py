"""The agency's TAXII 2.1 server (``intelshare taxii serve``), read by taxii2-client: pages,
added_after, Basic authentication, and nothing but 127.0.0.1. No broker: the feed is a list
of disclosures built in-process, except in the last tests, which run the real command."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from aiohttp import web
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from streams.core.keyfiles import generate_agency_keys, generate_exchange_keys
from streams.formats.stix import bundle_text
from streams.web.collection import Query, collection_entries, page, parse_query
from streams.web.taxii import API_ROOT, FeedCache, collection_id, taxii_app
from tests.unit.disclosures import generated_set

AGENCY, PASSWORD = "kz-knb", "correct horse battery staple"
FEED = generated_set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """The server over the generated feed, in a thread of its own; its base URL."""
    port, loop = _free_port(), asyncio.new_event_loop()
    app = taxii_app(FeedCache(lambda: FEED), AGENCY, PASSWORD)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def collection(base: str, password: str = PASSWORD) -> Collection:
    url = f"{base}{API_ROOT}collections/{collection_id(AGENCY)}/"
    return Collection(url, user=AGENCY, password=password)


def test_discovery_names_the_api_root_and_its_one_readable_collection(base: str) -> None:
    """Discovery, API root and collections, as taxii2-client reads them."""
    server = Server(f"{base}/taxii2/", user=AGENCY, password=PASSWORD)
    assert [root.url for root in server.api_roots] == [f"{base}{API_ROOT}"]
    root = ApiRoot(f"{base}{API_ROOT}", user=AGENCY, password=PASSWORD)
    (feed,) = root.collections
    assert feed.can_read
    assert not feed.can_write


def test_paging_10_at_a_time_gets_every_report_of_the_feed(base: str) -> None:
    """as_pages with 10 per page: every page but the last holds 10, no object twice, one
    report per disclosure."""
    pages = list(as_pages(collection(base).get_objects, per_request=10))
    objects = [o for envelope in pages for o in envelope.get("objects", [])]
    assert all(len(p["objects"]) == 10 for p in pages[:-1])
    assert len(pages) > 2
    assert len({(o["id"], o.get("modified", o["created"])) for o in objects}) == len(objects)
    reports = [o for o in objects if o["type"] == "report"]
    assert len(reports) == len(FEED)


def test_added_after_returns_only_later_objects(base: str) -> None:
    """added_after filters on date_added (the disclosure time), with the TAXII headers."""
    feed = collection(base)
    everything = feed.get_objects()["objects"]
    response = requests.get(
        feed.url + "objects/",
        params={"added_after": "2026-11-26T12:00:01.000Z", "limit": "5"},
        auth=(AGENCY, PASSWORD),
        headers={"Accept": "application/taxii+json;version=2.1"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/taxii+json;version=2.1"
    assert "objects" not in response.json() or not response.json()["objects"]
    assert everything


def test_a_wrong_password_gets_401(base: str) -> None:
    """Every endpoint wants the password; a wrong one is 401 with a Basic challenge."""
    with pytest.raises(requests.HTTPError) as caught:
        collection(base, "wrong").get_objects()
    assert caught.value.response.status_code == 401
    assert caught.value.response.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(f"{base}/taxii2/", timeout=10).status_code == 401


def test_another_host_name_gets_421(base: str) -> None:
    """Like the oversight page, the server answers only to local names (DNS rebinding)."""
    response = requests.get(
        f"{base}/taxii2/", auth=(AGENCY, PASSWORD), headers={"Host": "evil.example"}, timeout=10
    )
    assert response.status_code == 421


def test_a_bad_cursor_is_400_naming_next(base: str) -> None:
    """A malformed parameter is refused with what to do, not a traceback."""
    with pytest.raises(requests.HTTPError) as caught:
        collection(base).get_objects(next="not-a-cursor!")
    assert caught.value.response.status_code == 400
    assert "next is not a cursor" in caught.value.response.json()["title"]


def _outward_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        except OSError:
            return None
        address: str = s.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The real ``intelshare taxii serve`` (no broker needed until the objects are asked for);
    its port and password file."""
    home = tmp_path_factory.mktemp("home")
    keys = home / "keys"
    keys.mkdir()
    generate_agency_keys(keys, AGENCY)
    generate_exchange_keys(keys)
    port = _free_port()
    env = os.environ | {"INTELSHARE_HOME": str(home)}
    command = [sys.executable, "-m", "streams.cli", "taxii", "serve", "--agency", AGENCY]
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/taxii2/" in line
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port, home / "taxii" / f"{AGENCY}.password"
    finally:
        process.terminate()
        process.wait(10)


def test_serve_creates_a_0600_password_file_that_authenticates(served: tuple[int, Path]) -> None:
    """The command made the password file, owner-only; its password opens discovery."""
    port, path = served
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text(encoding="utf-8").strip()
    url = f"http://127.0.0.1:{port}/taxii2/"
    assert requests.get(url, auth=(AGENCY, password), timeout=10).status_code == 200
    assert requests.get(url, auth=(AGENCY, password + "x"), timeout=10).status_code == 401


def test_serve_is_not_reachable_on_another_interface(served: tuple[int, Path]) -> None:
    """The command listens on 127.0.0.1 only: this machine's outward address refuses."""
    port, _ = served
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    with socket.socket() as s:
        s.settimeout(5)
        assert s.connect_ex((address, port)) != 0


def test_requests_for_another_collection_are_404(base: str) -> None:
    """The server holds the agency's own feed only: any other collection id is unknown."""
    response = requests.get(
        f"{base}{API_ROOT}collections/{collection_id('kz-police')}/objects/",
        auth=(AGENCY, PASSWORD),
        timeout=10,
    )
    assert response.status_code == 404


def test_added_after_and_the_cursor_select_by_date_added() -> None:
    """date_added is the disclosure time: added_after keeps the later disclosure's objects
    only, and a cursor from one page continues exactly after it."""
    early, late = FEED[0], dict(FEED[1], disclosed_at="2026-11-26T13:00:00Z")
    entries = collection_entries([early, late])
    later = page(entries, Query(added_after=datetime(2026, 11, 26, 12, 30, tzinfo=UTC)))
    assert {e.obj["id"] for e in later.entries} == {
        o["id"] for o in json.loads(bundle_text(late))["objects"]
    } - {o["id"] for o in json.loads(bundle_text(early))["objects"]}
    first = page(entries, Query(limit=3))
    assert first.more
    assert first.next is not None
    rest = page(entries, parse_query({"next": first.next}, {}))
    assert [e.key for e in first.entries + rest.entries] == [e.key for e in entries]
