"""The ``intelshare`` command line: parses arguments, builds the settings, calls the core.

Exit codes: 0 success, 1 the command ran and found a problem (e.g. rejected reports),
2 usage, configuration or connection error, with a message that says what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from streams import cli_audit, cli_exchange, cli_oversight
from streams.errors import IntelshareError
from streams.log import configure_logging
from streams.settings import Settings

__all__ = ["main"]

Handler = Callable[[Settings, argparse.Namespace], int]


def _broker_start(settings: Settings, args: argparse.Namespace) -> int:
    from ops import broker

    print(broker.start(settings, secure=args.secure))
    return 0


def _users_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.users import Role, add_user

    print(add_user(settings, Role(args.role), args.name))
    return 0


def _broker_stop(settings: Settings, args: argparse.Namespace) -> int:
    from ops import broker

    stopped = broker.stop(settings)
    print("stopped" if stopped else "not running")
    return 0


def _broker_status(settings: Settings, args: argparse.Namespace) -> int:
    from ops import broker

    state = broker.status(settings)
    word = (
        "running"
        if state.running and state.answering
        else "not answering"
        if state.running
        else "stopped"
    )
    print(f"{word} {state.bootstrap} pid={state.pid or '-'} {state.detail}".rstrip())
    return 0 if state.running and state.answering else 1


def _topics_create(settings: Settings, args: argparse.Namespace) -> int:
    from streams.clients import create_topics
    from streams.topics import CATALOGUE, INTERNAL

    problems = 0
    for outcome in create_topics(settings, CATALOGUE + INTERNAL):
        state = "created" if outcome.created else "exists"
        print(f"{outcome.name}\t{state}\tpartitions={outcome.partitions}")
        if outcome.problem:
            problems += 1
            print(f"{outcome.name}: {outcome.problem}", file=sys.stderr)
    return 1 if problems else 0


def _submit(settings: Settings, args: argparse.Namespace) -> int:
    from streams.submit import Submitter, read_reports

    text = cli_exchange.read_text(args.file)
    with Submitter(settings) as submitter:
        result = submitter.submit(
            read_reports(text, max_bytes=settings.max_report_bytes),
            on_sent=lambda event_id: print(event_id, flush=True),
        )
    for rejection in result.rejected:
        for problem in rejection.problems:
            print(f"rejected {rejection.label}: {problem.field}: {problem.reason}", file=sys.stderr)
    for event_id in result.repeated:
        print(f"repeated {event_id}: identical report given twice, sent once", file=sys.stderr)
    sent, rejected, repeated = len(result.sent), len(result.rejected), len(result.repeated)
    print(f"{sent} sent, {rejected} rejected, {repeated} repeated", file=sys.stderr)
    if not result.sent and not result.rejected:
        print("no reports in the input", file=sys.stderr)
        return 1
    return 1 if result.rejected else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="intelshare",
        description="Share prison intelligence under written agreements, on Apache Kafka.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def group(name: str, help: str, actions: dict[str, str]) -> dict[str, argparse.ArgumentParser]:
        sub = commands.add_parser(name, help=help).add_subparsers(
            dest="action", required=True, metavar="ACTION"
        )
        return {action: sub.add_parser(action, help=text) for action, text in actions.items()}

    broker = group(
        "broker",
        "the local Kafka broker (ops/)",
        {
            "start": "assemble if needed, start, wait until it answers",
            "stop": "stop cleanly",
            "status": "running or not, and whether it answers",
        },
    )
    broker["start"].add_argument(
        "--secure", action="store_true",
        help="SASL/SCRAM-SHA-512 and ACLs; admin password in $INTELSHARE_HOME/secrets",
    )  # fmt: skip
    group("topics", "the topic catalogue", {"create": "create every topic (idempotent)"})
    users = group(
        "users",
        "SCRAM users of the secure broker (run with the admin's credentials)",
        {"add": "create a user with its role's ACLs; prints its password file"},
    )
    users["add"].add_argument(
        "--role", required=True, choices=("unit", "agency", "oversight", "worker")
    )
    users["add"].add_argument("name", metavar="NAME", help="for an agency: its agency id")

    submit = commands.add_parser("submit", help="validate and send reports")
    submit.add_argument("file", metavar="FILE|-", help="JSON object, array or JSON lines")

    worker = commands.add_parser("worker", help="the exchange's agents")
    worker.add_argument(
        "--steps", metavar="LIST",
        help="run only these agents, e.g. route (default all: intake,enrich,route,sequencer)",
    )  # fmt: skip

    keys = group(
        "keys",
        "key pairs",
        {
            "generate": "write a key pair (private key mode 0600)",
            "rotate": "keep the current pair under its key id and write a new one",
        },
    )
    for action in ("generate", "rotate"):
        who = keys[action].add_mutually_exclusive_group(required=True)
        who.add_argument("--agency", metavar="ID", help="an X25519 pair for a partner agency")
        who.add_argument("--exchange", action="store_true", help="the exchange's signing key")
        keys[action].add_argument("--out", metavar="DIR", help="default $INTELSHARE_HOME/keys")

    agencies = group("agencies", "partner agencies", {"register": "publish an agency's key"})
    agencies["register"].add_argument("--id", required=True)
    agencies["register"].add_argument("--name", required=True)
    agencies["register"].add_argument("--public-key", required=True, metavar="FILE")
    agencies["register"].add_argument("--country", default=None, metavar="CC")
    agencies["register"].add_argument(
        "--signing-key", metavar="FILE", help="receipt key; default ID.sign.pub beside the key"
    )

    reference = group("reference", "reference data", {"load": "publish facilities etc."})
    reference["load"].add_argument("file", metavar="FILE|-", help="JSON lines with a type each")

    agreements = group(
        "agreements",
        "sharing agreements",
        {"apply": "validate and publish (all or none)", "list": "show each and its state"},
    )
    agreements["apply"].add_argument("file", metavar="FILE|-", help="YAML: a mapping or a list")

    consume = commands.add_parser("consume", help="read, verify and decrypt an agency's feed")
    consume.add_argument("--agency", required=True, metavar="ID")
    consume.add_argument(
        "--key", required=True, action="append", metavar="FILE",
        help="the agency's private key; repeat with keys from before a rotation",
    )  # fmt: skip
    consume.add_argument(
        "--exchange-key", action="append", metavar="FILE",
        help="exchange public key(s); default every exchange*.pub in $INTELSHARE_HOME/keys",
    )  # fmt: skip
    consume.add_argument("--follow", action="store_true", help="wait for new disclosures")
    consume.add_argument(
        "--sign-key", metavar="FILE", help="receipt key; default $INTELSHARE_HOME/keys/ID.sign.key"
    )
    consume.add_argument("--from-beginning", action="store_true", help="reread the whole feed")

    audit = group(
        "audit",
        "oversight of the disclosure log",
        {
            "verify": "check the chain and reconcile it with the feeds",
            "query": "records matching filters, as JSON lines",
            "export": "the whole log as JSON lines or CSV",
            "stats": "disclosures per recipient, agreement and day",
            "prove": "an inclusion proof of one disclosure against the latest checkpoint",
            "check-proof": "verify an inclusion proof offline",
        },
    )
    for action in ("verify", "query", "export", "stats", "prove", "check-proof"):
        audit[action].add_argument(
            "--exchange-key", action="append", metavar="PUB", help="exchange public key (repeat)"
        )
    audit["verify"].add_argument("--file", metavar="EXPORT", help="verify an export offline")
    for name in ("recipient", "agreement", "subject", "event", "since", "until"):
        audit["query"].add_argument(f"--{name}")
    audit["export"].add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    audit["export"].add_argument("--out", metavar="FILE", help="default: standard output")
    audit["prove"].add_argument("disclosure_id", metavar="DISCLOSURE_ID")
    audit["prove"].add_argument("--out", metavar="FILE", help="default: standard output")
    audit["check-proof"].add_argument("file", metavar="FILE")

    oversight = group(
        "oversight", "the oversight body's web page", {"serve": "serve it on 127.0.0.1"}
    )
    oversight["serve"].add_argument("--port", type=int, default=6067, help="default 6067")
    oversight["serve"].add_argument(
        "--exchange-key", action="append", metavar="PUB", help="exchange public key (repeat)"
    )
    oversight["serve"].add_argument(
        "--cache", type=float, default=3.0, metavar="SECONDS", help="reread the log after this"
    )

    group(
        "deadletter",
        "rejected submissions",
        {"list": "show each with its reason", "replay": "resubmit those that now pass"},
    )
    return parser


_HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("broker", "start"): _broker_start,
    ("broker", "stop"): _broker_stop,
    ("broker", "status"): _broker_status,
    ("topics", "create"): _topics_create,
    ("users", "add"): _users_add,
    ("submit", None): _submit,
    ("worker", None): cli_exchange.worker,
    ("keys", "generate"): cli_exchange.keys_generate,
    ("keys", "rotate"): cli_exchange.keys_generate,
    ("agencies", "register"): cli_exchange.agencies_register,
    ("reference", "load"): cli_exchange.reference_load,
    ("agreements", "apply"): cli_exchange.agreements_apply,
    ("agreements", "list"): cli_exchange.agreements_list,
    ("consume", None): cli_exchange.consume,
    ("deadletter", "list"): cli_exchange.deadletter_list,
    ("audit", "verify"): cli_audit.audit_verify,
    ("audit", "query"): cli_audit.audit_query,
    ("audit", "export"): cli_audit.audit_export,
    ("audit", "stats"): cli_audit.audit_stats,
    ("audit", "prove"): cli_audit.audit_prove,
    ("audit", "check-proof"): cli_audit.audit_check_proof,
    ("deadletter", "replay"): cli_exchange.deadletter_replay,
    ("oversight", "serve"): cli_oversight.oversight_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``intelshare`` console script."""
    args = build_parser().parse_args(argv)
    handler = _HANDLERS[(args.command, getattr(args, "action", None))]
    try:
        settings = Settings.load()
        configure_logging(settings.log_level)
        return handler(settings, args)
    except IntelshareError as exc:
        print(f"intelshare: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
