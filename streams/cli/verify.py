"""``intelshare audit verify``, ``audit prove`` and ``audit check-proof``: the chain, the
checkpoints and, where witnesses are required (``--witness-key``, ``--min-cosignatures``),
their cosignatures; online, or offline from an export or a proof file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from streams.audit.checkpoint import check_proof, log_against_checkpoint, make_proof
from streams.audit.consistency import check_consistency, checkpoint_from_json
from streams.audit.offline import verify_copy
from streams.audit.receipts import split_views
from streams.audit.recheck import recheck
from streams.audit.records import Discrepancy, reconcile
from streams.audit.verify import ChainStatus, VerificationKeys, key_hint, verify_log
from streams.audit.witness import (
    WitnessPolicy,
    cosignature_from_json,
    cosigners,
    latest_cosigned,
    of_checkpoint,
    policy_problem,
)
from streams.cli.auditfiles import read_copy
from streams.cli.common import read_text, verification_keys, witness_policy
from streams.core.inputs import load_json
from streams.core.policy import Agreement
from streams.errors import (
    ConfigError,
    InconsistentLogError,
    MalformedInputError,
    NotAuthorisedError,
    SignatureError,
    TopicMissingError,
)
from streams.i18n import _, localise, msg
from streams.kafka.auditlog import (
    audit_records,
    checkpoints,
    cosignatures,
    feed_disclosures,
    latest_checkpoint,
    readable_cosignatures,
    receipts,
)
from streams.kafka.registry import agreement_history, published_agreements
from streams.settings import Settings

__all__ = ["audit_check_proof", "audit_prove", "audit_verify"]

_Item = TypeVar("_Item")


def _progress(records: Iterable[_Item], total: int) -> Iterator[_Item]:
    shown = sys.stderr.isatty() and total > 2000
    for done, record in enumerate(records, 1):
        if shown and done % 1000 == 0:
            filled = 30 * done // total
            print(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr
            )
        yield record
    if shown:
        print(file=sys.stderr)


def audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check every hash link and signature and the checkpoint; online, reconcile the feeds."""
    keys = verification_keys(settings, args.exchange_key)
    policy = witness_policy(settings, args.witness_key, args.min_cosignatures)
    if args.file:
        return _verify_copy(args.file, keys, policy)
    if args.since_checkpoint:
        return _verify_new(settings, args)
    signed = checkpoints(settings)
    records = audit_records(settings)
    checkpoint = max(signed, key=lambda c: c["tree_size"], default=None)
    status = verify_log(
        _progress(records, len(records)), checkpoint, keys, every_signature=args.every_signature
    )
    if not status.sound:
        return _broken(status)
    clauses = [_under_checkpoint(checkpoint["tree_size"])] if checkpoint else []
    if policy is not None:
        witnessed = _witnessed(records, signed, cosignatures(settings), keys, policy)
        if witnessed is None:
            return 1
        clauses.append(witnessed)
    rechecked = _rechecked(settings, records)
    if rechecked is None or not _no_split_view(settings, records):
        return 1
    clauses += [rechecked] if rechecked else []
    summary = _sound(status.records, clauses)
    feeds = feed_disclosures(settings, {r["recipient"] for r in records if r["recipient"]})
    if feeds is None:
        unread = _(
            "the feeds were not reconciled: this credential may not read them (the exchange's "
            "operator can)"
        )
        # Translators: a summary of `audit verify`, then a second part; keep your language's
        # semicolon (Arabic ؛)
        print(_("{summary}; {clause}", summary=summary, clause=unread))
        return 0
    discrepancies = reconcile(records, feeds)
    if discrepancies:
        _print_discrepancies(discrepancies)
        return 1
    print(_sound(status.records, [*clauses, _("every feed message audited once")]))
    return 0


def _sound(records: int, clauses: list[str]) -> str:
    """``sound: N records, chain verified``, then each of ``clauses`` (whole translated
    phrases) after the locale's list comma."""
    text = _("sound: {records} records, chain verified", records=records)
    for clause in clauses:
        # Translators: one more clause of the summary of `audit verify` ("sound: 12 records,
        # chain verified" + ", " + "12 under the latest signed checkpoint"); keep your
        # language's list comma (Arabic ،)
        text = _("{summary}, {clause}", summary=text, clause=clause)
    return text


def _under_checkpoint(size: int) -> str:
    return _("{size} under the latest signed checkpoint", size=size)


def _verify_new(settings: Settings, args: argparse.Namespace) -> int:
    """Only what is new since the last check: each new record against the previous record's
    hash and the keys, each new checkpoint against the records it covers (the oversight
    index, :mod:`streams.audit.index`); the last record checked before must still be there."""
    from streams.cli.oversight import fresh_index

    index, done = fresh_index(settings, args)
    status = index.status()
    if done.problem is not None:
        print(_("BROKEN: {problem}", problem=localise(done.problem)))
        return 1
    if not status.sound:
        return _broken(ChainStatus(False, status.verified, status.broken_at, status.detail))
    clauses = [_under_checkpoint(status.checkpoint["tree_size"])] if status.checkpoint else []
    print(
        _(
            "{summary} (only what was new since the last check: {records} records; the full "
            "check: `audit verify`)",
            summary=_sound(status.verified, clauses),
            records=done.records,
        )
    )
    return 0


def _broken(status: ChainStatus) -> int:
    detail = localise(status.detail)
    if status.broken_at is not None:
        print(
            _("BROKEN at sequence {sequence}: {detail}", sequence=status.broken_at, detail=detail)
        )
    else:
        # Translators: the chain is broken; {detail} says where and how ("against the
        # checkpoint of 8 records: ...")
        print(_("BROKEN {detail}", detail=detail))
    hint = key_hint(status)
    if hint:
        print(_("hint: {hint}", hint=localise(hint)), file=sys.stderr)
    return 1


def _rechecked(settings: Settings, records: list[dict[str, Any]]) -> str | None:
    """The summary's words on re-checking each record against the agreement version it names
    (from intel.agreements.history and intel.agreements), or None after saying BROKEN."""
    try:
        history = [v.agreement for v in agreement_history(settings)]
        latest = list(published_agreements(settings).values())
    except (NotAuthorisedError, TopicMissingError) as exc:
        _note(
            _(
                "the disclosures were not re-checked against their agreements: {exc}",
                exc=localise(exc),
            )
        )
        return ""
    versions: dict[tuple[str, int], Agreement] = {(a.id, a.version): a for a in [*history, *latest]}
    outcome = recheck(records, versions)
    if outcome.breached_at is not None:
        record = records[outcome.breached_at]
        print(
            _(
                "BROKEN at sequence {breached_at}: disclosure {disclosure_id} {reason}",
                breached_at=outcome.breached_at,
                disclosure_id=record["disclosure_id"],
                reason=localise(outcome.reason),
            )
        )
        return None
    if outcome.unknown:
        _note(
            _(
                "{unknown} records name agreement versions that are not on "
                "intel.agreements.history (applied before it was kept): not re-checked",
                unknown=outcome.unknown,
            )
        )
    return _("{checked} re-checked against their agreement version", checked=outcome.checked)


def _no_split_view(settings: Settings, records: list[dict[str, Any]]) -> bool:
    """False, after saying BROKEN, when an agency's receipt names a checkpoint the log does
    not agree with."""
    try:
        found, keys = receipts(settings)
    except (NotAuthorisedError, TopicMissingError) as exc:
        _note(_("the receipts were not compared with the log: {exc}", exc=localise(exc)))
        return True
    problems = split_views(found, keys, [r["hash"] for r in records])
    if not problems:
        return True
    print(_("BROKEN: {problem}", problem=localise(problems[0])))
    for other in problems[1:]:
        print(_("  also: {problem}", problem=localise(other)), file=sys.stderr)
    return False


def _note(message: str) -> None:
    print(_("note: {message}", message=message), file=sys.stderr)


def _witnessed(
    records: list[dict[str, Any]],
    signed: list[dict[str, Any]],
    cosigned: list[dict[str, Any]],
    keys: VerificationKeys,
    policy: WitnessPolicy,
) -> str | None:
    """The summary's words on the latest checkpoint with the cosignatures required, or None
    (after saying BROKEN) when there is none or the log disagrees with it."""
    checkpoint = latest_cosigned(signed, cosigned, policy)
    if checkpoint is None:
        latest = max(signed, key=lambda c: c["tree_size"], default=None)
        problem = policy_problem(latest, cosigned, policy) if latest else _("no checkpoint yet")
        print(
            _(
                "BROKEN: no checkpoint has the cosignatures required: {problem}",
                problem=localise(problem),
            )
        )
        return None
    problem = log_against_checkpoint(records, checkpoint, keys.keys)
    if problem is not None:
        size = checkpoint["tree_size"]
        print(
            _(
                "BROKEN against the cosigned checkpoint of {size} records: {problem}",
                size=size,
                problem=localise(problem),
            )
        )
        return None
    count = len(cosigners(checkpoint, cosigned, policy.keys))
    return _(
        "{size} under a checkpoint cosigned by {count} witness(es) given",
        size=checkpoint["tree_size"],
        count=count,
    )


def _verify_copy(path: str, keys: VerificationKeys, policy: WitnessPolicy | None) -> int:
    """``audit verify --file``: an export, offline, against the checkpoint it carries and,
    with ``policy``, the witnesses' cosignatures of it."""
    copy = read_copy(path)
    status, checkpoint = verify_copy(
        copy._replace(rows=list(_progress(copy.rows, len(copy.rows)))), keys
    )
    if not status.sound:
        return _broken(status)
    if policy is not None and checkpoint is not None and copy.trailer is not None:
        problem = _policy(checkpoint, copy.trailer.get("cosignatures"), policy, path)
        if problem is not None:
            print(_("BROKEN: {problem}", problem=localise(problem)))
            return 1
    print(
        _(
            "sound: {records} records, {detail} (offline)",
            records=status.records,
            detail=localise(status.detail),
        )
    )
    return 0


def _policy(
    checkpoint: dict[str, Any], given: Any, policy: WitnessPolicy, label: str
) -> str | None:
    """Why the cosignatures a file carries do not meet ``policy``, or None."""
    if not isinstance(given, list):
        given = []
    found = [
        cosignature_from_json(c, msg("{label}: cosignature {n}", label=label, n=n))
        for n, c in enumerate(given, 1)
    ]
    return policy_problem(checkpoint, found, policy)


def _print_discrepancies(discrepancies: list[Discrepancy]) -> None:
    first = discrepancies[0]
    shown = {"disclosure_id": first.disclosure_id, "reason": localise(first.reason)}
    if first.sequence is not None:
        print(
            _(
                "BROKEN at sequence {breached_at}: disclosure {disclosure_id} {reason}",
                breached_at=first.sequence,
                **shown,
            )
        )
    else:
        print(_("BROKEN at a feed: disclosure {disclosure_id} {reason}", **shown))
    for other in discrepancies[1:]:
        print(
            _(
                "  also: disclosure {disclosure_id} {reason}",
                disclosure_id=other.disclosure_id,
                reason=localise(other.reason),
            ),
            file=sys.stderr,
        )


def audit_prove(settings: Settings, args: argparse.Namespace) -> int:
    """An inclusion proof of one disclosure against the latest checkpoint, as JSON."""
    records = audit_records(settings)
    record = next((r for r in records if r["disclosure_id"] == args.disclosure_id), None)
    if record is None:
        raise ConfigError(
            msg("no audit record for disclosure {disclosure_id}", disclosure_id=args.disclosure_id)
        )
    checkpoint = latest_checkpoint(settings)
    if checkpoint is None or record["sequence"] >= checkpoint["tree_size"]:
        raise ConfigError(
            msg(
                "record {sequence} is not under a checkpoint yet; the worker signs one within "
                "{checkpoint_seconds:.0f} s of new records: try again then",
                sequence=record["sequence"],
                checkpoint_seconds=settings.checkpoint_seconds,
            )
        )
    proof = make_proof(record, [r["hash"] for r in records], checkpoint)
    cosigned, unread = readable_cosignatures(settings)
    if unread:
        _note(unread)
    proof["cosignatures"] = of_checkpoint(checkpoint, cosigned)
    text = json.dumps(proof, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(_("proof written to {out}", out=args.out), file=sys.stderr)
    else:
        print(text)
    return 0


def audit_check_proof(settings: Settings, args: argparse.Namespace) -> int:
    """Verify an inclusion proof offline, with the exchange's public key and no broker."""
    try:
        proof = load_json(read_text(args.file))
    except MalformedInputError as exc:
        raise ConfigError(msg("{file} is not a proof: {exc}", file=args.file, exc=exc)) from exc
    if not isinstance(proof, dict):
        raise ConfigError(msg("{file} is not a proof: not a JSON object", file=args.file))
    keys = verification_keys(settings, args.exchange_key).keys
    policy = witness_policy(settings, args.witness_key, args.min_cosignatures)
    consistency = "consistency_path" in proof
    try:
        account = check_consistency(proof, keys) if consistency else check_proof(proof, keys)
    except (SignatureError, InconsistentLogError) as exc:
        print(_("NOT PROVEN: {exc}", exc=localise(exc)))
        return 1
    if policy is not None:
        raw = proof.get("new" if consistency else "checkpoint")
        checkpoint = checkpoint_from_json(raw, args.file)
        problem = _policy(checkpoint, proof.get("cosignatures"), policy, args.file)
        if problem is not None:
            print(_("NOT PROVEN: {problem}", problem=localise(problem)))
            return 1
        account = _(
            "{account}, cosigned by {minimum} or more of the witnesses given",
            account=localise(account),
            minimum=policy.minimum,
        )
    if consistency:
        print(_("consistent: {account}", account=localise(account)))
    else:
        print(_("proven: {account}", account=localise(account)))
    return 0
