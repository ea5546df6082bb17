"""Handlers of the ``intelshare`` commands that run and feed the exchange: worker, keys,
agencies, reference data, agreements, consume and dead letters. Parsed in ``streams.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.errors import AgreementInvalidError, ConfigError, FieldProblem, IntelshareError
from streams.settings import Settings

__all__ = [
    "agencies_register",
    "agreements_apply",
    "agreements_list",
    "consume",
    "deadletter_list",
    "deadletter_replay",
    "keys_generate",
    "reference_load",
    "worker",
]

MAX_FILE_BYTES = 64 * 1024 * 1024


def read_text(name: str) -> str:
    """A UTF-8 file (or stdin for ``-``), with errors that say what to do."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{name} is over {MAX_FILE_BYTES} bytes; split it into smaller files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc


def _codec(settings: Settings, name: str) -> Any:
    from streams.codec import Codec
    from streams.schemas import SchemaSet

    return Codec(SchemaSet.from_directory(settings.schemas_dir), f"intelshare.{name}")


def worker(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare worker [--steps LIST]``: the agents, until interrupted."""
    import dataclasses

    from agents.app import run_worker

    if args.steps:
        settings = dataclasses.replace(settings, worker_steps=args.steps)
    return run_worker(settings)


def keys_generate(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare keys generate|rotate --agency ID | --exchange [--out DIR]``."""
    from streams.crypto import generate_agency_keys, generate_exchange_keys, generate_signing_key
    from streams.rotation import rotate_agency_keys, rotate_exchange_key
    from streams.topics import feed_topic

    folder = Path(args.out) if args.out else settings.home / "keys"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not args.exchange:
        feed_topic(args.agency)  # refuses an id that could not name a feed
    if args.action == "rotate":
        if args.exchange:
            private, public, old = rotate_exchange_key(folder, datetime.now(UTC))
        else:
            private, public, old = rotate_agency_keys(folder, args.agency)
        print(f"previous key kept as {old} (still needed to read or verify older records)")
        then = "restart the worker" if args.exchange else "register the new public key"
        print(f"now {then}")
    elif args.exchange:
        private, public = generate_exchange_keys(folder)
    else:
        private, public = generate_agency_keys(folder, args.agency)
        signing, _ = generate_signing_key(folder, f"{args.agency}.sign")
        print(f"receipt key: {signing} (mode 0600; signs consultation receipts)")
    print(f"private key: {private} (mode 0600, keep it secret)")
    print(f"public key:  {public}")
    return 0


def agencies_register(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agencies register --id ID --name NAME --public-key FILE``."""
    from streams.clients import create_topics, publish
    from streams.crypto import key_id, parse_x25519_public
    from streams.topics import feed_spec

    spec = feed_spec(args.id)
    public = parse_x25519_public(read_text(args.public_key).strip())
    raw = public.public_bytes_raw()
    record = {
        "agency_id": args.id,
        "name": args.name,
        "country": args.country,
        "public_key": raw,
        "key_id": key_id(raw),
        "registered_at": datetime.now(UTC),
        "signing_key": _receipt_key(args),
    }
    outcomes = create_topics(settings, [spec])
    if outcomes[0].problem:
        raise IntelshareError(f"feed {outcomes[0].name} {outcomes[0].problem}")
    value = _codec(settings, "Agency").encode(record)
    publish(settings, settings.topic_prefix + "intel.ref.agencies", [(args.id.encode(), value)])
    print(f"registered {args.id} key {record['key_id']}; feed {outcomes[0].name}")
    return 0


def _receipt_key(args: argparse.Namespace) -> bytes:
    """The agency's raw Ed25519 receipt key: ``--signing-key``, or ``ID.sign.pub`` beside
    its public key when there is one; empty when the agency sends no receipts."""
    from streams.crypto import parse_ed25519_public

    path = Path(args.signing_key) if args.signing_key else None
    if path is None:
        beside = Path(args.public_key).with_name(f"{args.id}.sign.pub")
        path = beside if beside.is_file() else None
    if path is None:
        return b""
    return parse_ed25519_public(read_text(str(path)).strip()).public_bytes_raw()


def reference_load(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare reference load FILE``: JSON lines of facilities, subjects and agencies."""
    from streams.clients import publish
    from streams.reference import parse_reference_line, read_reference_lines

    now = datetime.now(UTC)
    by_topic: dict[str, list[tuple[bytes, bytes | None]]] = {}
    codecs: dict[str, Any] = {}
    rejected = 0
    for label, obj, problem in read_reference_lines(read_text(args.file)):
        try:
            if problem is not None:
                raise ConfigError(f"{label}: {problem}")
            ref = parse_reference_line(obj, label, now)
        except IntelshareError as exc:
            print(f"rejected {exc}", file=sys.stderr)
            rejected += 1
            continue
        codec = codecs.setdefault(ref.schema_name, _codec(settings, ref.schema_name.split(".")[-1]))
        items = by_topic.setdefault(settings.topic_prefix + ref.topic, [])
        items.append((ref.key.encode(), codec.encode(ref.record)))
    for topic, items in by_topic.items():
        print(f"{topic}\t{publish(settings, topic, items)}")
    print(f"{sum(map(len, by_topic.values()))} loaded, {rejected} rejected", file=sys.stderr)
    return 1 if rejected else 0


def agreements_apply(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agreements apply FILE``: validate all, then publish all or none."""
    import yaml

    from streams.clients import latest_by_key, publish
    from streams.policy import agreement_from_record, agreement_to_record, parse_agreement

    try:
        loaded = yaml.safe_load(read_text(args.file))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{args.file} is not YAML: {exc}") from exc
    items = loaded if isinstance(loaded, list) else [loaded]
    codec = _codec(settings, "Agreement")
    prefix = settings.topic_prefix
    agencies = latest_by_key(settings, prefix + "intel.ref.agencies")
    published = {
        key.decode(): agreement_from_record(codec.decode(value))
        for key, value in latest_by_key(settings, prefix + "intel.agreements").items()
    }
    ready: list[tuple[bytes, bytes | None]] = []
    errors: list[IntelshareError] = []
    for number, item in enumerate(items, 1):
        label = f"agreement {number}"
        try:
            agreement = parse_agreement(item, label)
            _check_against_published(agreement, published.get(agreement.id), agencies, label)
        except IntelshareError as exc:
            errors.append(exc)
            continue
        if published.get(agreement.id) == agreement:
            print(f"unchanged {agreement.id} v{agreement.version}")
            continue
        ready.append((agreement.id.encode(), codec.encode(agreement_to_record(agreement))))
        print(f"applying {agreement.id} v{agreement.version} -> {agreement.recipient}")
    for error in errors:
        print(f"rejected {error}", file=sys.stderr)
    if errors:
        print("nothing applied: fix the agreements above and apply the file again", file=sys.stderr)
        return 1
    publish(settings, prefix + "intel.agreements", ready)
    return 0


def _check_against_published(
    agreement: Any, current: Any, agencies: dict[bytes, bytes], label: str
) -> None:
    problems = []
    if agreement.recipient.encode() not in agencies:
        reason = "is not a registered agency; run `intelshare agencies register` first"
        problems.append(FieldProblem("recipient", reason))
    if current is not None and current != agreement and agreement.version <= current.version:
        reason = f"must be above {current.version}, the published version, for a changed agreement"
        problems.append(FieldProblem("version", reason))
    if problems:
        raise AgreementInvalidError(problems, label=f"{label} ({agreement.id})")


def agreements_list(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agreements list``: one line per agreement with its state now."""
    from streams.clients import latest_by_key
    from streams.policy import agreement_from_record
    from streams.report import format_time

    codec = _codec(settings, "Agreement")
    now = datetime.now(UTC)
    for value in latest_by_key(settings, settings.topic_prefix + "intel.agreements").values():
        a = agreement_from_record(codec.decode(value))
        state = (
            "revoked"
            if a.revoked
            else "not-yet-valid"
            if now < a.valid_from
            else "expired"
            if now >= a.valid_until
            else "active"
        )
        window = f"{format_time(a.valid_from)}..{format_time(a.valid_until)}"
        print(f"{a.id}\tv{a.version}\t{a.recipient}\t{state}\t{window}\t{a.purpose}")
    return 0


def consume(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare consume --agency ID --key FILE [--follow] [--from-beginning]``."""
    from streams.cli_audit import exchange_keys
    from streams.consume import FeedReader
    from streams.rotation import agency_keys

    private = agency_keys([Path(k) for k in args.key])
    keys = exchange_keys(settings, args.exchange_key)
    reader = FeedReader(settings, args.agency, private, keys, _codec(settings, "Disclosure"))
    receipts = _Receipts(settings, args)
    refused = 0
    try:
        for received in reader.read(follow=args.follow, from_beginning=args.from_beginning):
            if received.disclosure is None:
                refused += 1
                print(f"refused offset {received.offset}: {received.problem}", file=sys.stderr)
            else:
                print(json.dumps(received.disclosure, ensure_ascii=False), flush=True)
                receipts.send(received.disclosure["disclosure_id"])
    finally:
        receipts.close()
    return 1 if refused else 0


class _Receipts:
    """Signs and publishes a consultation receipt for every disclosure opened."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        from streams.crypto import load_ed25519_private

        path = Path(args.sign_key) if args.sign_key else None
        default = settings.home / "keys" / f"{args.agency}.sign.key"
        path = path or (default if default.is_file() else None)
        self.key = load_ed25519_private(path) if path else None
        if self.key is None:
            print("no receipt key: consultation receipts are not sent", file=sys.stderr)
        self.settings, self.agency = settings, args.agency
        self.codec = _codec(settings, "Receipt") if self.key else None
        self.producer: Any = None

    def send(self, disclosure_id: str) -> None:
        if self.key is None or self.codec is None:
            return
        from streams.clients import producer
        from streams.receipts import make_receipt

        self.producer = self.producer or producer(self.settings)
        receipt = make_receipt(disclosure_id, self.agency, self.key, datetime.now(UTC))
        topic = self.settings.topic_prefix + "intel.receipts"
        self.producer.send(topic, key=disclosure_id.encode(), value=self.codec.encode(receipt))

    def close(self) -> None:
        if self.producer is not None:
            self.producer.flush(timeout=self.settings.request_timeout)
            self.producer.close(timeout=self.settings.request_timeout)


def deadletter_list(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare deadletter list``: one JSON object per rejected message, bytes withheld."""
    from streams.deadletters import dead_letters, summary

    for letter in dead_letters(settings, _codec(settings, "DeadLetter")):
        print(json.dumps(summary(letter), ensure_ascii=False))
    return 0


def deadletter_replay(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare deadletter replay``: resubmit the dead letters that now pass."""
    from streams.deadletters import dead_letters, replay

    letters = dead_letters(settings, _codec(settings, "DeadLetter"))
    outcomes = replay(settings, letters, _codec(settings, "Report"))
    for outcome in outcomes:
        word = "replayed" if outcome.replayed else "kept"
        print(f"{word}\t{outcome.source}\t{outcome.reason}".rstrip())
    replayed = sum(o.replayed for o in outcomes)
    print(f"{replayed} replayed, {len(outcomes) - replayed} kept", file=sys.stderr)
    return 0
