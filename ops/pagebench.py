"""The oversight page at scale (issue 15): first-byte time and size of its pages, and how soon
a record written to the log shows on it.

``python -m ops.pagebench --prefix big-`` starts ``intelshare oversight serve`` on the log of
that topic prefix (its index already built by ``intelshare oversight index``), then measures
the first page, the last page (newest first: the oldest records, reached by a cursor), a
filtered page per kind of filter and a JSON API page, each ``--repeat`` times (the median);
then appends ``--lag-records`` records to the log, chained and signed
(:func:`ops.synthlog.append_records`), and times until the page's verified length includes
them. Figures on stdout, one ``name value`` a line.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ops.runtime import free_port
from ops.synthlog import append_records
from streams.audit.indexquery import cursor_after
from streams.settings import Settings

__all__ = ["main"]


def _get(port: int, path: str) -> tuple[float, float, int, bytes]:
    """Seconds to the first byte of the body, to the last, its size, and the body."""
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", path)
    response = connection.getresponse()
    first = response.read(1)
    first_byte = time.perf_counter() - began
    body = first + response.read()
    connection.close()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
    return first_byte, time.perf_counter() - began, len(body), body


def _verified(port: int) -> int:
    import json

    return int(json.loads(_get(port, "/api/disclosures?limit=1")[3])["chain"]["records"])


def _measure(port: int, name: str, path: str, repeat: int) -> None:
    runs = [_get(port, path) for _ in range(repeat)]
    first = statistics.median(r[0] for r in runs)
    total = statistics.median(r[1] for r in runs)
    print(f"{name}_first_byte_ms {first * 1000:.1f}")
    print(f"{name}_total_ms {total * 1000:.1f}")
    print(f"{name}_bytes {runs[0][2]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Measure; the server is stopped at the end."""
    parser = argparse.ArgumentParser(prog="python -m ops.pagebench", description=__doc__)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=float, default=1.0, help="the page's --cache seconds")
    parser.add_argument("--lag-records", type=int, default=1)
    args = parser.parse_args(argv)
    settings = dataclasses.replace(Settings.load(), topic_prefix=args.prefix)
    port = free_port()
    env = dict(os.environ, INTELSHARE_TOPIC_PREFIX=args.prefix)
    command = [str(Path(sys.executable).parent / "intelshare"), "oversight", "serve"]
    server = subprocess.Popen(  # our own command
        [*command, "--port", str(port), "--cache", str(args.cache)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                total = _verified(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        print(f"records {total}", flush=True)
        last = cursor_after(50, 50)  # the 50 oldest: the last page, newest first
        pages = {
            "first_page": "/",
            "last_page": f"/?after={last}",
            "recipient_page": "/?recipient=kz-knb",
            "recipient_month_page": (
                "/?recipient=kz-knb&since=2024-03-01T00:00:00Z&until=2024-04-01T00:00:00Z"
            ),
            "subject_page": "/?subject=KZ-P-000123",
            "event_page": "/?event=ev-00000100",
            "sorted_by_agreement_page": "/?sort=agreement&order=oldest",
            "api_page": "/api/disclosures",
        }
        for name, path in pages.items():
            _measure(port, name, path, args.repeat)
        time.sleep(args.cache)
        wanted = total + args.lag_records
        append_records(settings, settings.home / "keys", args.lag_records, datetime.now(UTC))
        written = time.perf_counter()
        while _verified(port) < wanted:
            time.sleep(0.02)
        print(f"lag_ms {(time.perf_counter() - written) * 1000:.0f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
