"""Micro-benchmarks of the pure core's hot functions: one number per function, so a regression
shows as a number before it shows in the pipeline (``ops/bench``).

``ops/microbench [--number N] [--repeat R] [--only SUBSTRING] [--json]``: times each function
on one benchmark report (:mod:`ops.bench_exchange`: three agreements cover it) with
:mod:`timeit`, best of R runs of N calls, and prints µs per call and the ratio to a baseline
timed in the same run (SHA-256 of 1 KiB): on this shared, noisy machine the ratio is the figure
to compare between runs and machines. Nothing here touches Kafka; the agents add the engine's
cost per record on top (``ops/profile`` shows it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import timeit
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ops.bench_exchange import AGENCIES, bench_agreement, make_reports
from ops.demo_data import of_type, reference_data
from streams.audit.chain import GENESIS, record_hash, seal_record
from streams.audit.checkpoint import sign_checkpoint
from streams.audit.merkle import Frontier, leaf_hash
from streams.core.canonical import canonical
from streams.core.codec import record_codec
from streams.core.crypto import (
    BatchSealer,
    disclosure_aad,
    key_id,
    pseudonymiser,
    seal,
    sign,
)
from streams.core.dedup import DedupState
from streams.core.disclosure import build_disclosure, signed_bytes
from streams.core.enrich import enrich
from streams.core.intake import check_submission
from streams.core.minimise import minimise
from streams.core.policy import parse_agreement, route
from streams.core.report import report_to_json, validate_report
from streams.settings import Settings

__all__ = ["BASELINE", "Case", "cases", "main", "measure"]

BASELINE = "baseline: sha256 of 1 KiB"


class Case(NamedTuple):
    """One function to time: which agent calls it, and a call with realistic arguments."""

    agent: str
    """intake, enrich, route, sequencer, or ``-`` for the baseline."""
    name: str
    call: Callable[[], object]


def cases(now: datetime | None = None) -> list[Case]:
    """Every case, the baseline first, on one benchmark report and its three agreements."""
    now = now or datetime.now(UTC)
    codecs = {name: record_codec(Settings().schemas_dir, name) for name in _RECORDS}
    line = make_reports(1, now)[0]
    report = validate_report(line, now=now)
    submitted = codecs["Report"].encode(report)
    key = report["event_id"].encode()
    world = reference_data(random.Random(7))  # noqa: S311  # benchmark data
    facilities = {f["facility_id"]: f for f in of_type(world, "facility")}
    subjects = {s["subject_id"]: s for s in of_type(world, "subject")}
    facility = facilities[report["facility_id"]]
    verdict, _ = DedupState().observe(report, now)
    enriched = enrich(report, facility=facility, subjects=subjects.get, verdict=verdict, now=now)
    agreements = [parse_agreement(bench_agreement(a, now)) for a in AGENCIES]
    chosen = route(agreements, enriched, now)
    assert len(chosen) == len(AGENCIES), "every benchmark agreement covers the report"
    agreement = chosen[0]
    signing = Ed25519PrivateKey.generate()
    recipient = X25519PrivateKey.generate().public_key()
    secret = bytes(range(32))
    alias = pseudonymiser(secret, agreement.recipient)
    json_form = report_to_json(enriched)
    sealer = BatchSealer()  # as route seals: envelope 2

    def disclose() -> tuple[dict[str, Any], dict[str, Any]]:
        return build_disclosure(
            enriched, agreement, recipient_public=recipient, recipient_key_id="k",
            signing_key=signing, exchange_key_id=key_id(b"x" * 32), pseudonym_secret=secret,
            now=now, json_form=json_form, sealer=sealer,
        )  # fmt: skip

    disclosure, pending = disclose()
    chained = seal_record(
        pending, sequence=7, prev_hash=GENESIS, key_id="k", signing_key=signing, now=now
    )
    payload = json.dumps(minimise(enriched, agreement, alias, json_form=json_form)).encode()
    aad = disclosure_aad(disclosure["disclosure_id"], agreement.recipient)
    kib = bytes(1024)

    def chain_step() -> None:
        frontier = Frontier(7, [bytes(32)] * 3)  # 7 leaves: three perfect subtrees
        frontier.append(leaf_hash(chained["hash"]))
        frontier.root()

    return [
        Case("-", BASELINE, lambda: hashlib.sha256(kib).digest()),
        Case("intake", "check_submission", lambda: check_submission(
            submitted, key, codecs["Report"], now)),
        Case("intake", "Report encode", lambda: codecs["Report"].encode(report)),
        Case("enrich", "Report decode", lambda: codecs["Report"].decode(submitted)),
        Case("enrich", "dedup observe (new report)", lambda: DedupState().observe(report, now)),
        Case("enrich", "enrich", lambda: enrich(
            report, facility=facility, subjects=subjects.get, verdict=verdict, now=now)),
        Case("route", "policy route (3 agreements)", lambda: route(agreements, enriched, now)),
        Case("route", "report_to_json", lambda: report_to_json(enriched)),
        Case("route", "minimise", lambda: minimise(
            enriched, agreement, alias, json_form=json_form)),
        Case("route", "seal envelope 1 (X25519 each)", lambda: seal(payload, recipient, aad)),
        Case("route", "seal envelope 2 (batch)", lambda: sealer.seal(
            payload, recipient, disclosure["disclosure_id"], aad)),
        Case("route", "sign (Ed25519)", lambda: sign(signing, b"x" * 64)),
        Case("route", "canonical (disclosure)", lambda: signed_bytes(disclosure)),
        Case("route", "build_disclosure", disclose),
        Case("route", "Disclosure encode", lambda: codecs["Disclosure"].encode(disclosure)),
        Case("route", "AuditRecord encode", lambda: codecs["AuditRecord"].encode(pending)),
        Case("sequencer", "AuditRecord decode", lambda: codecs["AuditRecord"].decode(
            codecs["AuditRecord"].encode(pending))),
        Case("sequencer", "record_hash", lambda: record_hash(chained)),
        Case("sequencer", "seal_record", lambda: seal_record(
            pending, sequence=7, prev_hash=GENESIS, key_id="k", signing_key=signing, now=now)),
        Case("sequencer", "Merkle append + root", chain_step),
        Case("sequencer", "sign_checkpoint", lambda: sign_checkpoint(
            tree_size=1001, root_hash=bytes(32), head_hash=bytes(32), key_id="k",
            signing_key=signing, now=now)),
        Case("sequencer", "canonical (10 strings)", lambda: canonical(*["abcdefgh"] * 10)),
    ]  # fmt: skip


_RECORDS = ("Report", "Disclosure", "AuditRecord")


def measure(case: Case, *, number: int, repeat: int) -> float:
    """Best µs per call of ``case`` over ``repeat`` runs of ``number`` calls."""
    runs = timeit.repeat(case.call, number=number, repeat=repeat)
    return min(runs) / number * 1e6


def _rows(selected: Sequence[Case], number: int, repeat: int) -> Iterator[dict[str, Any]]:
    base = measure(selected[0], number=number, repeat=repeat)
    for case in selected:
        micros = base if case.name == BASELINE else measure(case, number=number, repeat=repeat)
        yield {
            "agent": case.agent,
            "function": case.name,
            "us_per_call": round(micros, 2),
            "over_baseline": round(micros / base, 2),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ops/microbench", description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=200, help="calls per run (default 200)")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best counts (default 5)")
    parser.add_argument("--only", default="", help="only functions whose name contains this")
    parser.add_argument("--json", action="store_true", help="one JSON object per function")
    args = parser.parse_args(argv)
    if args.number < 1 or args.repeat < 1:
        parser.error("--number and --repeat must be at least 1")
    every = cases(datetime.now(UTC) - timedelta(minutes=1))
    selected = [every[0]] + [c for c in every[1:] if args.only.lower() in c.name.lower()]
    if len(selected) == 1 and args.only:
        parser.error(f"no function's name contains {args.only!r}")
    if not args.json:
        print(f"{'agent':<10} {'function':<30} {'µs/call':>9} {'x baseline':>11}")
    for row in _rows(selected, args.number, args.repeat):
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['agent']:<10} {row['function']:<30} {row['us_per_call']:>9.2f} "
                f"{row['over_baseline']:>11.2f}"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
