"""Commands of the exchange's operators: broker, topics, users, keys (declared in :mod:`.keys`),
agencies (:mod:`.agencies`), certificates (:mod:`.certs`), reference data, agreements, the
worker and dead letters."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime

from streams.cli.agencies import load_agencies
from streams.cli.agencies import register as register_agencies
from streams.cli.certs import register as register_certs
from streams.cli.common import Commands, actions, read_text, say
from streams.cli.keys import register as register_keys
from streams.core.times import format_time
from streams.errors import ConfigError, IntelshareError, MalformedInputError
from streams.i18n import _, localise, msg
from streams.settings import Settings
from streams.topics import CATALOGUE, INTERNAL

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Declare the operators' commands."""
    broker = actions(
        commands,
        "broker",
        _("the local Kafka broker (ops/)"),
        {
            "start": (_("assemble if needed, start, wait until it answers"), broker_start),
            "stop": (_("stop cleanly (every node)"), broker_stop),
            "status": (_("one line per node: id, pid, port, state"), broker_status),
        },
    )
    broker["start"].add_argument(
        "--secure", action="store_true",
        help=_("SASL/SCRAM-SHA-512 and ACLs; admin password in $INTELSHARE_HOME/secrets"),
    )  # fmt: skip
    broker["start"].add_argument(
        "--tls", action="store_true",
        help=_("with --secure: SASL_SSL on the broker port and mutual TLS on port+2 (on the "
        "cluster: each node's port+6), from the certificates of `intelshare certs` (TLS 1.2+)"),
    )  # fmt: skip
    broker["start"].add_argument(
        "--nodes", type=int, choices=(1, 3), default=1, metavar="N",
        help=_("1 (default) or 3: a local 3-node KRaft cluster on ports BROKER_PORT+100.., "
        "whose bootstrap list it prints last"),
    )  # fmt: skip
    actions(
        commands, "topics", _("the topic catalogue"), {"create": (_("every topic"), topics_create)}
    )
    actions(
        commands,
        "retention",
        _("how long each topic keeps what it holds"),
        {"report": (_("every topic: cleanup policy, retention, oldest record"), retention_report)},
    )
    users = actions(
        commands,
        "users",
        _("SCRAM users of the secure broker (run with the admin's credentials)"),
        {"add": (_("create a user with its role's ACLs; prints its password file"), users_add)},
    )
    users["add"].add_argument(
        "--role", required=True, choices=("unit", "agency", "oversight", "witness", "worker")
    )
    users["add"].add_argument("name", metavar="NAME", help=_("for an agency: its agency id"))
    users["add"].add_argument(
        "--unit", action="append", default=[], metavar="UNIT_ID", dest="units",
        help=_("role unit (at least one; repeat for more): a report unit_id the user may submit "
        "for, e.g. KZ-PIU-ASTANA; also writes its submission key NAME.sign.key"),
    )  # fmt: skip

    worker = commands.add_parser("worker", help=_("the exchange's agents"))
    worker.add_argument(
        "--agents", "--steps", metavar="LIST", dest="agents",
        help=_("run only these agents, e.g. route (default all: intake,enrich,route,sequencer)"),
    )  # fmt: skip
    worker.add_argument(
        "--instance", type=int, metavar="N",
        help=_("this worker's instance of each agent (default 1); run the same agent on several "
        "machines with different numbers to share its load and survive one's loss"),
    )  # fmt: skip
    worker.set_defaults(handler=run_worker)

    register_keys(commands)
    register_agencies(commands)
    register_certs(commands)

    reference = actions(
        commands, "reference", _("reference data"), {"load": (_("publish facilities etc."), load)}
    )
    reference["load"].add_argument("file", metavar="FILE|-", help=_("JSON lines with a type each"))
    reference["load"].add_argument(
        "--replace", action="store_true",
        help=_("overwrite an agency whose line differs from its registered record (a new key)"),
    )  # fmt: skip

    agreements = actions(
        commands,
        "agreements",
        _("sharing agreements"),
        {
            "apply": (_("validate and publish (all or none)"), agreements_apply),
            "list": (_("show each and its state"), agreements_list),
            "history": (_("every version of one agreement ever applied"), agreements_history),
        },
    )
    agreements["apply"].add_argument("file", metavar="FILE|-", help=_("YAML: a mapping or a list"))
    agreements["history"].add_argument("agreement_id", metavar="ID")

    erase = commands.add_parser(
        "erase",
        help=_("destroy a subject's data key, notify the agencies that received its data, and "
        "record the erasure in the audit log"),
    )  # fmt: skip
    erase.add_argument("--subject", required=True, metavar="ID", help=_("the subject id"))
    erase.add_argument(
        "--reason", required=True, metavar="TEXT", help=_("e.g. the order's reference")
    )
    erase.add_argument(
        "--roll", action="store_true",
        help=_("stay (about two minutes) to roll the purged topics' segments once and the key "
        "topics' twice, so the broker deletes the erased reports and key off its disks even "
        "when nothing else is written"),
    )  # fmt: skip
    erase.set_defaults(handler=erase_subject)

    actions(
        commands,
        "deadletter",
        _("rejected submissions"),
        {
            "list": (_("show each with its reason"), deadletter_list),
            "replay": (_("resubmit those that now pass"), deadletter_replay),
        },
    )


def broker_start(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare broker start [--secure [--tls]] [--nodes N]``: prints the bootstrap
    address(es)."""
    from ops import broker, cluster

    if args.nodes > 1:
        print(cluster.start(settings, args.nodes, secure=args.secure, tls=args.tls))
    else:
        print(broker.start(settings, secure=args.secure, tls=args.tls))
    return 0


def broker_stop(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare broker stop``: the single broker (plaintext or secure) and every node of
    the local cluster."""
    from ops import broker, cluster

    stopped = broker.stop(settings)
    stopped = cluster.stop(settings) or stopped
    print("stopped" if stopped else "not running")
    return 0


def broker_status(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare broker status``: one line per node (the single broker, unless only a cluster
    was started and it is stopped; each node of the cluster); exit 0 only when all answer."""
    from ops import broker, cluster

    nodes = cluster.status(settings)
    single = broker.status(settings)
    lines: list[tuple[bool, str]] = []
    if single.running or not nodes:
        word = "not answering" if single.running else "stopped"
        word = "running" if single.running and single.answering else word
        port = single.bootstrap.rsplit(":", 1)[1]
        line = f"node 1 pid={single.pid or '-'} port={port} {word} {single.detail}"
        lines.append((single.running and single.answering, line))
    for node in nodes:
        line = f"node {node.node_id} pid={node.pid or '-'} port={node.port} {node.state}"
        lines.append((node.state == "running", f"{line} {node.detail}"))
    for _answering, line in lines:
        print(line.rstrip())
    return 0 if all(answering for answering, _line in lines) else 1


def topics_create(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare topics create``: idempotent; reports drift, and sets on existing topics (the
    catalogue's and the agencies' feeds) the configs the catalogue and the retention settings
    ask for, one ``changed`` line per value set."""
    from streams.kafka.retention import align_configs, existing_feeds
    from streams.kafka.topics import create_topics

    problems = 0
    for outcome in create_topics(settings, CATALOGUE + INTERNAL):
        state = "created" if outcome.created else "exists"
        print(f"{outcome.name}\t{state}\tpartitions={outcome.partitions}")
        if outcome.problem:
            problems += 1
            print(f"{outcome.name}: {outcome.problem}", file=sys.stderr)
    for change in align_configs(settings, CATALOGUE + INTERNAL + tuple(existing_feeds(settings))):
        print(f"{change.topic}\tchanged\t{change.key}={change.new} (was {change.old or 'unset'})")
    return 1 if problems else 0


def retention_report(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare retention report``: one line per topic of the exchange: its cleanup policy,
    its retention, and the time of the oldest record it still holds (``empty`` when none)."""
    from streams.core.retention import report_line
    from streams.kafka.retention import retention_rows

    for row in retention_rows(settings):
        print(report_line(row))
    return 0


def users_add(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare users add --role ROLE NAME [--unit UNIT_ID ...]``: prints the password
    file, and for a unit its submission key file on a second line."""
    from streams.kafka.users import Role, add_user, unit_key_file

    role = Role(args.role)
    print(add_user(settings, role, args.name, args.units))
    if role is Role.UNIT:
        print(unit_key_file(settings, args.name))
    return 0


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare worker [--agents LIST] [--instance N]``: the agents, until interrupted."""
    from agents.worker import run_worker as run

    if args.agents:
        settings = dataclasses.replace(settings, worker_agents=args.agents)
    if args.instance is not None:
        if args.instance < 1:
            raise ConfigError(
                msg("--instance {instance}: a worker instance is 1 or more", instance=args.instance)
            )
        settings = dataclasses.replace(settings, worker_instance=args.instance)
    return run(settings)


def load(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare reference load FILE``: JSON lines of facilities, subjects and agencies."""
    from streams.core.reference import parse_reference_line, read_reference_lines
    from streams.kafka.registry import publish_reference

    now = datetime.now(UTC)
    records, rejected = [], 0
    for label, obj, problem in read_reference_lines(read_text(args.file)):
        try:
            if problem is not None:
                # Translators: a line of a reference file, and what is wrong with it
                raise ConfigError(msg("{label}: {problem}", label=label, problem=problem))
            records.append(parse_reference_line(obj, label, now))
        except IntelshareError as exc:
            print(_("rejected {problem}", problem=localise(exc)), file=sys.stderr)
            rejected += 1
    others = [r for r in records if r.kind != "agency"]
    for topic, count in publish_reference(settings, others).items():
        print(f"{topic}\t{count}")
    refused = load_agencies(
        settings, (r for r in records if r.kind == "agency"), replace=args.replace
    )
    print(
        _(
            "{count} loaded, {rejected} rejected",
            count=len(records) - refused,
            rejected=rejected + refused,
        ),
        file=sys.stderr,
    )
    return 1 if rejected or refused else 0


def agreements_apply(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agreements apply FILE``: validate all, then publish all or none."""
    from streams.core.inputs import load_yaml
    from streams.kafka.registry import plan_agreements, publish_agreements

    try:
        loaded = load_yaml(read_text(args.file))
    except MalformedInputError as exc:
        raise ConfigError(f"{args.file}: {exc}") from exc
    items = loaded if isinstance(loaded, list) else [loaded]
    plans, errors = plan_agreements(
        settings, ((f"agreement {n}", item) for n, item in enumerate(items, 1))
    )
    for error in errors:
        print(_("rejected {problem}", problem=localise(error)), file=sys.stderr)
    if errors:
        print(
            _("nothing applied: fix the agreements above and apply the file again"), file=sys.stderr
        )
        return 1
    for plan in plans:
        a = plan.agreement
        word = "applying" if plan.changed else "unchanged"
        print(f"{word} {a.id} v{a.version}" + (f" -> {a.recipient}" if plan.changed else ""))
    publish_agreements(settings, [p.agreement for p in plans if p.changed])
    return 0


def agreements_list(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agreements list``: one line per agreement with its state now."""
    from streams.kafka.registry import published_agreements

    now = datetime.now(UTC)
    for a in published_agreements(settings).values():
        window = f"{format_time(a.valid_from)}..{format_time(a.valid_until)}"
        print(f"{a.id}\tv{a.version}\t{a.recipient}\t{a.state(now)}\t{window}\t{a.purpose}")
    return 0


def agreements_history(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare agreements history ID``: one line per version applied, oldest first; exit 1
    when none was kept."""
    from streams.kafka.registry import agreement_history

    versions = [v for v in agreement_history(settings) if v.agreement.id == args.agreement_id]
    if not versions:
        print(
            _(
                "no version of agreement {agreement_id} is on intel.agreements.history: the id is "
                "wrong, or it was applied before the history was kept (`agreements list`)",
                agreement_id=args.agreement_id,
            ),
            file=sys.stderr,
        )
        return 1
    now = datetime.now(UTC)
    for applied in versions:
        a = applied.agreement
        state = a.state(now) if applied is versions[-1] else "superseded"
        window = f"{format_time(a.valid_from)}..{format_time(a.valid_until)}"
        print(
            _(
                "v{version}\tapplied {applied_at}\t{recipient}\t{state}\t{window}\tmax_tlp "
                "{value}\tdisclose {disclose}",
                version=a.version,
                applied_at=format_time(applied.applied_at),
                recipient=a.recipient,
                state=state,
                window=window,
                value=a.match.max_tlp.value,
                disclose=",".join(a.disclose),
            )
        )
    return 0


def deadletter_list(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare deadletter list``: one JSON object per rejected message, bytes withheld."""
    from streams.core.codec import record_codec
    from streams.kafka.deadletters import dead_letters, replayed_sources, summary

    replayed = replayed_sources(settings)
    reports = record_codec(settings.schemas_dir, "Report")
    for letter in dead_letters(settings):
        print(json.dumps(summary(letter, replayed, reports), ensure_ascii=False))
    return 0


def deadletter_replay(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare deadletter replay``: resubmit the dead letters that now pass."""
    from streams.kafka.deadletters import dead_letters, replay

    outcomes = replay(settings, dead_letters(settings))
    for outcome in outcomes:
        word = "replayed" if outcome.replayed else "kept"
        print(f"{word}\t{outcome.source}\t{outcome.reason}".rstrip())
    replayed = sum(o.replayed for o in outcomes)
    print(
        _("{replayed} replayed, {count} kept", replayed=replayed, count=len(outcomes) - replayed),
        file=sys.stderr,
    )
    return 0


def erase_subject(settings: Settings, args: argparse.Namespace) -> int:
    """``intelshare erase --subject ID --reason TEXT``: on the exchange's machine (its keys);
    prints what it did, never the subject id (it may be logged)."""
    from streams.kafka.erasure import erase, roll_erased
    from streams.kafka.purge import roll_purged

    done = erase(settings, args.subject, args.reason, say=say)
    print(f"erasure recorded\tdisclosures={done.disclosures}")
    for recipient in done.recipients:
        print(f"notified\t{recipient}")
    print(_("key destroyed") if done.key_destroyed else _("no data key held (records before keys)"))
    print(f"purged\tpartitions={done.purged}\tdead_letters={done.dead_letters}")
    if args.roll:
        markers = roll_purged(settings, say=say, dead_letters=done.dead_letters > 0)
        print(f"rolled\tpartitions={sum(len(m) for m in markers.values())}")
        roll_erased(settings, say=say)
        print(_("segments rolled"))
    return 0
