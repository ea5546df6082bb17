"""A whole exchange for integration tests: keys, agencies, reference data, agreements, worker.

Everything is set up the way operators do it, through the ``intelshare`` command line, under a
topic prefix of its own; the worker is a real process.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from ops.runtime import wait_for
from streams.audit.chain import verify_chain
from streams.core.codec import Codec
from streams.core.crypto import key_id, parse_ed25519_public
from streams.core.keyfiles import load_x25519_private
from streams.core.schemas import SchemaSet
from streams.errors import IntelshareError
from streams.kafka.clients import read_topic
from streams.kafka.consume import FeedReader
from streams.kafka.submit import Candidate, Submitter
from streams.kafka.topics import create_topics
from streams.settings import PROJECT_ROOT, Settings
from streams.topics import CATALOGUE, INTERNAL
from tests.factories import incident
from tests.integration.helpers import committed_count, run_cli
from tests.integration.worker import Worker

SCHEMAS = SchemaSet.from_directory(PROJECT_ROOT / "schemas")


class Exchange:
    """One exchange under its own prefix and home folder."""

    def __init__(
        self,
        bootstrap: str,
        home: Path,
        base_env: dict[str, str],
        security: dict[str, str] | None = None,
    ) -> None:
        """``security``: the ``INTELSHARE_*`` variables of the admin on a secure broker (its
        protocol, user, password file, CA), which the exchange is set up and read with."""
        self.home = home
        prefix = f"x{uuid.uuid4().hex[:10]}."
        security = security or {}
        self.settings = Settings.from_mapping(
            {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "home": home}
            | {"request_timeout": 10.0}
            | {name.removeprefix("INTELSHARE_").lower(): v for name, v in security.items()}
        )
        self.env = {k: v for k, v in base_env.items() if not k.startswith("INTELSHARE_")} | {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INTELSHARE_TOPIC_PREFIX": self.settings.topic_prefix,
            "INTELSHARE_HOME": str(home),
            **security,
        }
        self.submitting = self.settings
        """Whom :meth:`submit` sends as: on a secure broker, set a unit user's settings."""
        self.worker = Worker(self.env, home)
        create_topics(self.settings, CATALOGUE + INTERNAL)
        self.cli("keys", "generate", "--exchange")
        exchange_pub = parse_ed25519_public((home / "keys" / "exchange.pub").read_text())
        self.exchange_keys = {key_id(exchange_pub.public_bytes_raw()): exchange_pub}

    def cli(self, *args: str, ok: bool = True) -> Any:
        done = run_cli(*args, env=self.env)
        if ok:
            assert done.returncode == 0, f"intelshare {' '.join(args)}: {done.stderr}"
        return done

    def agency(self, agency_id: str) -> None:
        """Generate the agency's keys and register it (which creates its feed)."""
        self.cli("keys", "generate", "--agency", agency_id)
        pub = str(self.home / "keys" / f"{agency_id}.pub")
        self.cli(
            "agencies", "register", "--id", agency_id, "--name", agency_id, "--public-key", pub
        )

    def reference(self, lines: Iterable[dict[str, Any]]) -> None:
        path = self.home / f"ref-{uuid.uuid4().hex[:6]}.jsonl"
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        self.cli("reference", "load", str(path))

    def agreements(self, items: list[dict[str, Any]]) -> None:
        path = self.home / f"agreements-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(items))
        self.cli("agreements", "apply", str(path))

    def submit(self, reports: list[dict[str, Any]]) -> list[str]:
        with Submitter(self.submitting) as submitter:
            result = submitter.submit(Candidate(f"r{i}", r, None) for i, r in enumerate(reports))
        assert not result.rejected, [str(r) for r in result.rejected]
        return result.sent

    def send_raw(self, values: list[bytes | None]) -> None:
        """Put bytes on intel.submissions as a hostile or broken producer would."""
        from streams.kafka.clients import publish

        topic = self.settings.topic_prefix + "intel.submissions"
        publish(self.settings, topic, [(b"raw", v) for v in values])

    def feed(self, agency_id: str) -> list[dict[str, Any]]:
        """Every disclosure on the agency's feed, verified and decrypted."""
        private = load_x25519_private(self.home / "keys" / f"{agency_id}.key")
        codec = Codec(SCHEMAS, "intelshare.Disclosure")
        reader = FeedReader(self.settings, agency_id, private, self.exchange_keys, codec)
        received = list(reader.read(from_beginning=True))
        assert all(r.problem is None for r in received), [r.problem for r in received]
        return [r.disclosure for r in received if r.disclosure is not None]

    def audit(self, expect: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
        """The committed audit log, or its records of ``kind`` only: all of it now, or once
        ``expect`` such records are there (at most 5 s later: then what there is)."""
        codec = Codec(SCHEMAS, "intelshare.AuditRecord")
        topic = self.settings.topic_prefix + "intel.audit"
        deadline = time.monotonic() + 5
        while True:  # to the end offsets: an idle timeout may stop among transaction markers
            found = [codec.decode(r.value) for r in read_topic(self.settings, topic)]
            if kind is not None:
                found = of_kind(found, kind)
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def settled_audit(self, quiet: float = 2.0, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The audit log once it has not grown for ``quiet`` seconds: the worker records an
        agency's consultation a moment after ``consume`` sends its receipt."""
        deadline = time.monotonic() + timeout
        records = self.audit()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.audit()
            if len(now) == len(records):
                return now
            records = now
        raise AssertionError(f"the audit log still grew after {timeout} s")

    def verify_audit(self) -> int:
        return verify_chain(self.audit(), self.exchange_keys)

    def dead_letters(self) -> list[dict[str, Any]]:
        done = self.cli("deadletter", "list")
        return [json.loads(line) for line in done.stdout.splitlines()]


def of_kind(records: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The audit records of one kind (disclosure, collection, ...: streams.core.operations)."""
    return [r for r in records if r["kind"] == kind]


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    try:
        wait_for(what, check, timeout)
    except IntelshareError as exc:
        raise AssertionError(str(exc)) from None


def facility(facility_id: str, country: str) -> dict[str, Any]:
    return {
        "type": "facility",
        "facility_id": facility_id,
        "country": country,
        "name": f"Facility {facility_id}",
        "security_level": "high",
    }


def agreement(agreement_id: str, recipient: str, **match: Any) -> dict[str, Any]:
    """A valid agreement open to everything but what ``match`` restricts."""
    return {
        "id": agreement_id,
        "version": 1,
        "recipient": recipient,
        "purpose": "prevention of terrorist offences",
        "legal_basis": "test statute, article 1",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2030-12-31T23:59:59Z",
        "revoked": False,
        "match": {"max_tlp": "AMBER+STRICT", "handling": ["P"]} | match,
        "disclose": ["event_id", "kind", "facility_id", "category", "subjects", "narrative"],
        "pseudonymise": ["subjects.subject_id"],
    }


PAIR_AGENCIES = ("g-one", "g-two")
PAIR_AGREEMENTS = ("G-1", "G-2")


def pair_exchange(
    bootstrap: str, home: Path, base_env: dict[str, str], security: dict[str, str] | None = None
) -> Exchange:
    """An exchange whose two agencies each receive every report of facility KZ-F-1
    (``security``: as :class:`Exchange`'s)."""
    x = Exchange(bootstrap, home, base_env, security)
    for agency in PAIR_AGENCIES:
        x.agency(agency)
    x.reference([facility("KZ-F-1", "KZ")])
    x.agreements([agreement(a, g) for a, g in zip(PAIR_AGREEMENTS, PAIR_AGENCIES, strict=True)])
    return x


def pair_reports(count: int) -> list[dict[str, Any]]:
    """``count`` distinct incidents at KZ-F-1."""
    return [incident(facility_id="KZ-F-1", narrative=f"r {i} {uuid.uuid4()}") for i in range(count)]


def audited(x: Exchange) -> int:
    """Committed audit records now (to the end offsets, read_committed)."""
    return committed_count(x.settings, x.settings.topic_prefix + "intel.audit")


def assert_exactly_once(x: Exchange, reports: list[dict[str, Any]], timeout: float = 300) -> None:
    """Every (event, agreement) pair of a :func:`pair_exchange` is on the read_committed feeds
    exactly once, with exactly one audit record, and ``audit verify`` passes."""
    expected = {(r["event_id"], a) for r in reports for a in PAIR_AGREEMENTS}
    wait_until(
        lambda: (
            audited(x) >= len(expected) + len(reports)  # and a collection each
            and len(x.audit(kind="disclosure")) >= len(expected)
        ),
        timeout=timeout,
        what="every audit record",
    )
    disclosed = Counter(
        (d["event_id"], d["agreement_id"]) for agency in PAIR_AGENCIES for d in x.feed(agency)
    )
    assert set(disclosed) == expected
    assert max(disclosed.values()) == 1
    audit = x.audit()
    assert len(of_kind(audit, "disclosure")) == len(expected)
    collected = Counter(r["event_id"] for r in of_kind(audit, "collection"))
    assert collected == Counter(r["event_id"] for r in reports)  # each report, once
    assert x.verify_audit() == len(audit)
    verified = x.cli("audit", "verify", ok=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
