"""``intelshare witness run --key FILE --state DIR [--once]``: a witness of the audit log.

Run by an oversight body or a second country with read access to the audit log and its
checkpoints only. Each round it reads the checkpoints, then the records, and cosigns the
checkpoints that extend the one it kept (:func:`streams.audit.witness.to_cosign`); the last one
cosigned is kept in ``DIR/state.json`` (a checkpoint file ``audit consistency`` accepts), written
only after its cosignatures are on ``intel.audit.cosignatures``. On an inconsistent checkpoint
it refuses: nothing is written, the state is kept, and it exits 1 naming sizes and roots.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from streams.audit.consistency import checkpoint_from_json, checkpoint_json, describe
from streams.audit.witness import cosign, to_cosign
from streams.cli.common import (
    Commands,
    actions,
    exchange_key_option,
    key_file,
    read_text,
    verification_keys,
)
from streams.core.crypto import key_id
from streams.core.fields import AGENCY_ID
from streams.core.keyfiles import load_ed25519_private
from streams.errors import (
    ChainBrokenError,
    ConfigError,
    InconsistentLogError,
    IntelshareError,
    MalformedInputError,
    SignatureError,
)
from streams.i18n import _, msg
from streams.settings import Settings

__all__ = ["register"]

log = structlog.get_logger(__name__)
STATE = "state.json"


def register(commands: Commands) -> None:
    """Declare ``intelshare witness run``."""
    run = actions(
        commands,
        "witness",
        _("cosign checkpoints that extend the last one cosigned; refuse others"),
        {"run": (_("witness the audit log (until interrupted, or --once)"), witness_run)},
    )["run"]
    run.add_argument(
        "--key", required=True, metavar="FILE", help=_("the witness's NAME.witness.key")
    )
    run.add_argument("--state", required=True, metavar="DIR", help=_("keeps the last checkpoint"))
    run.add_argument("--once", action="store_true", help=_("one round, then exit"))
    run.add_argument(
        "--interval", type=float, metavar="SECONDS", help=_("between rounds (default the "
        "checkpoint interval, INTELSHARE_CHECKPOINT_SECONDS)"),
    )  # fmt: skip
    exchange_key_option(run, from_home=False)


def witness_name(path: Path) -> str:
    """``w-one`` for ``w-one.witness.key`` (as ``keys generate --witness w-one`` names it)."""
    name = path.name.removesuffix(".key").removesuffix(".witness")
    if not AGENCY_ID.fullmatch(name):
        raise ConfigError(
            msg(
                "{path}: a witness key file is NAME.witness.key with NAME in lower case letters, "
                "digits and dashes; make one with `intelshare keys generate --witness NAME`",
                path=path,
            )
        )
    return name


def load_state(folder: Path) -> dict[str, Any] | None:
    """The checkpoint the witness last cosigned, or None before its first round."""
    from streams.core.inputs import load_json  # imports yaml: only where a state is read

    path = folder / STATE
    if not path.exists():
        return None
    try:
        raw = load_json(read_text(str(path)))
    except MalformedInputError as exc:
        raise ConfigError(
            msg("{path} is damaged ({exc}); restore it from a backup", path=path, exc=exc)
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            msg("{path} is damaged (not a JSON object); restore it from a backup", path=path)
        )
    return checkpoint_from_json(raw.get("checkpoint"), str(path))


def save_state(folder: Path, witness: str, checkpoint: Any, now: datetime) -> None:
    """Replace the state file in one step (a crash leaves the old one or the new one)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = {
        "witness": witness,
        "cosigned_at": now.isoformat(),
        "checkpoint": checkpoint_json(checkpoint),
    }
    partial = folder / f".{STATE}.partial"
    partial.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, folder / STATE)


def witness_run(settings: Settings, args: argparse.Namespace) -> int:
    """Rounds until interrupted (or one with ``--once``); exit 1 on a refusal."""
    from streams.kafka.auditlog import audit_records, checkpoints, publish_cosignatures

    private, folder = key_file(settings, args.key), Path(args.state)
    name, key = witness_name(private), load_ed25519_private(private)
    keys = verification_keys(settings, args.exchange_key)
    interval = args.interval if args.interval is not None else settings.checkpoint_seconds
    if interval <= 0:
        raise ConfigError(
            msg("--interval {interval}: give a number of seconds above 0", interval=interval)
        )
    kid = key_id(key.public_key().public_bytes_raw())
    log.info("witness_started", witness=name, key_id=kid, state=str(folder))
    while True:
        kept = load_state(folder)
        try:
            signed = checkpoints(settings)  # before the records: each then covers those read
            wanted = to_cosign(kept, signed, audit_records(settings), keys)
        except (InconsistentLogError, ChainBrokenError, SignatureError) as exc:
            _refused(name, kept, exc)
            return 1
        except IntelshareError as exc:
            if args.once or not exc.retriable:
                raise
            log.warning("witness_round_failed", witness=name, reason=str(exc), retry_in=interval)
            time.sleep(interval)
            continue
        if wanted:
            now = datetime.now(UTC)
            publish_cosignatures(settings, [cosign(c, name, key, now) for c in wanted])
            save_state(folder, name, wanted[-1], now)
            log.info(
                "witness_cosigned", witness=name, checkpoints=len(wanted),
                tree_size=wanted[-1]["tree_size"], root=wanted[-1]["root_hash"].hex(),
            )  # fmt: skip
            print(
                _(
                    "cosigned {count}: up to {describe}",
                    count=len(wanted),
                    describe=describe(wanted[-1]),
                ),
                flush=True,
            )
        elif args.once:
            if kept:
                print(_("nothing new to cosign: kept {describe}", describe=describe(kept)))
            else:
                print(_("nothing new to cosign"))
        if args.once:
            return 0
        time.sleep(interval)


def _refused(
    name: str,
    kept: dict[str, Any] | None,
    exc: InconsistentLogError | ChainBrokenError | SignatureError,
) -> None:
    """Log and print a refusal; the state is left as it was."""
    fields: dict[str, Any] = {"witness": name, "reason": str(exc)}
    if isinstance(exc, InconsistentLogError):
        fields |= {
            "kept_size": exc.old_size, "kept_root": exc.old_root.hex(),
            "new_size": exc.new_size, "new_root": exc.new_root.hex(),
        }  # fmt: skip
    elif kept is not None:
        fields |= {"kept_size": kept["tree_size"], "kept_root": kept["root_hash"].hex()}
    log.error("witness_refused", **fields)
    print(_("REFUSED: {exc}; nothing was cosigned and the state is kept", exc=exc), flush=True)
