"""Issue 17: the README's commands, run exactly as printed, in the order a new deployment
meets them, by a shell whose PATH has ``.venv/bin`` first (what ``source .venv/bin/activate``
does), in a folder of its own whose ``.intelshare`` is the home, on the session's broker.

Every command of the README's ``sh`` blocks (its comment aside) must be accounted for here: run
as printed, run with its placeholder filled in (:data:`FILLED`), or run by the test named in
:data:`ELSEWHERE`. A README line this module does not know fails the test,
so the README cannot drift from the code unnoticed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.runtime import free_port, worker_status
from streams.core.report import FIELDS
from streams.settings import PROJECT_ROOT
from tests.factories import incident
from tests.integration.exchange import agreement, facility

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
EVENT = "3f2b8c1e-5d4a-4f6b-9c2d-7e8f9a0b1c2d"  # the README's example event id


def _readme_commands() -> list[str]:
    """Every command of the README's ``sh`` blocks, as printed, without its comment."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


SECURE = "test_security.py"
CERTS = "unit/test_certs.py::test_the_readme_certificate_commands_run_as_printed"
TLS_CLI = "test_tls.py::test_a_cli_command_runs_over_sasl_ssl (the same variables, on 127.0.0.1)"
TLS_NAME = "test_tls.py::test_a_wrong_host_name_is_refused (a name the certificate must hold)"
MTLS = "test_tls.py::test_a_certificate_user_has_its_roles_acls (SSL with a user's certificate)"
ELSEWHERE = {
    "ops/demo": "the demo is the README's first command; CI runs ops/test, not the demo",
    "ops/test": ".ci/run (CI runs exactly this)",
    "source .venv/bin/activate": "here: PATH starts with .venv/bin, as activate sets it",
    "intelshare broker start|stop|status": "test_broker.py::test_lifecycle (each of the three)",
    "intelshare broker start --secure --tls --nodes 3": "test_cluster.py",
    "intelshare broker status": "test_broker.py::test_lifecycle, test_cluster.py",
    "intelshare broker stop": "test_broker.py::test_lifecycle, test_cluster.py",
    "intelshare broker start --secure": "test_security.py (ops.broker.start(secure=True))",
    "export INTELSHARE_SECURITY_PROTOCOL=SASL_PLAINTEXT INTELSHARE_SASL_USERNAME=admin": SECURE,
    "export INTELSHARE_SASL_PASSWORD_FILE=.intelshare/secrets/admin.password": SECURE,
    "intelshare users add --role unit tj-piu-dushanbe --unit TJ-PIU-DUSHANBE": SECURE,
    "intelshare users add --role agency kz-knb": "test_security.py (users add per role)",
    "intelshare users add --role oversight ombudsman": "test_security.py (users add per role)",
    "intelshare users add --role worker exchange": "test_security.py (users add per role)",
    # issue 16: the three-machine deployment over TLS
    "intelshare certs init": CERTS,
    "intelshare certs issue --node 1 --host exchange.example.org": CERTS,
    "intelshare certs issue --user kz-knb": CERTS,
    "intelshare certs list": CERTS,
    "intelshare broker start --secure --tls": "integration/secure_broker.py (the package's "
    "secure broker: ops.broker.start(secure=True, tls=True))",
    "export INTELSHARE_BROKER_HOST=exchange.example.org": TLS_NAME,
    "export KAFKA_BOOTSTRAP_SERVERS=exchange.example.org:9092 "
    "INTELSHARE_SECURITY_PROTOCOL=SASL_SSL": TLS_CLI,
    "export INTELSHARE_SSL_CAFILE=.intelshare/certs/ca.pem INTELSHARE_SASL_USERNAME=admin": TLS_CLI,
    "export INTELSHARE_SSL_CAFILE=ca.pem INTELSHARE_SASL_USERNAME=tj-piu-dushanbe": TLS_CLI,
    "export INTELSHARE_SASL_PASSWORD_FILE=tj-piu-dushanbe.password "
    "INTELSHARE_UNIT_KEY_FILE=tj-piu-dushanbe.sign.key": TLS_CLI,
    "export KAFKA_BOOTSTRAP_SERVERS=exchange.example.org:9094 "
    "INTELSHARE_SECURITY_PROTOCOL=SSL": MTLS,
    "export INTELSHARE_SSL_CAFILE=ca.pem INTELSHARE_SSL_CERTFILE=tls/kz-knb.pem "
    "INTELSHARE_SSL_KEYFILE=tls/kz-knb.key": MTLS,
    # issue 12: consistency proofs, witnesses, agreement history
    "intelshare audit consistency 120 480 --out consistency.json":
        "integration/test_witness.py (audit consistency 8 12)",
    "intelshare audit check-proof consistency.json --exchange-key exchange.pub":
        "unit/test_offline_export.py::test_a_later_export_extends_an_earlier_one",
    "intelshare users add --role witness w-one": "unit/test_witness.py (the witness role's ACLs)",
    "intelshare witness run --key w-one.witness.key --state witness-state --exchange-key "
    "exchange.pub": "integration/test_witness.py (with --once; this form runs until stopped)",
    "intelshare oversight serve --witness-key w-one.witness.pub":
        "unit/test_witness.py (the page's witnesses)",
    # issue 15: the oversight index
    "intelshare oversight index": "integration/test_oversight_index.py (on a synthetic log)",
    "intelshare audit verify --since-checkpoint": "integration/test_oversight_index.py",
    # issue 13: retention and erasure
    "intelshare retention report":
        "integration/test_topics.py::test_retention_settings_reach_topics_and_the_report",
}  # fmt: skip
"""README lines run by another test (or by CI itself), and which."""

FILLED = {
    "intelshare consume --agency kz-knb [--follow] [--from-beginning] [--pretty]": [
        "intelshare consume --agency kz-knb",
        "intelshare consume --agency kz-knb --from-beginning --pretty",
    ],
    "intelshare audit prove DISCLOSURE_ID --out proof.json": [
        "intelshare audit prove {disclosure} --out proof.json"
    ],
    "intelshare keys export-link --out DIR": ["intelshare keys export-link --out ."],
    "intelshare agencies list [--json]": [
        "intelshare agencies list",
        "intelshare agencies list --json",
    ],
    "intelshare taxii serve --agency kz-knb [--port 6068]": [
        "intelshare taxii serve --agency kz-knb"
    ],
}
"""README lines with a placeholder or options in brackets, and how they are run."""


class Shell:
    """Runs README lines in ``folder`` with the session broker and a topic prefix of its own."""

    def __init__(self, folder: Path, bootstrap: str) -> None:
        self.folder = folder
        venv_bin = str(Path(sys.executable).parent)
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTELSHARE_")}
        self.web_port = free_port()
        self.env = base | {
            "PATH": f"{venv_bin}{os.pathsep}{base.get('PATH', '')}",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INTELSHARE_TOPIC_PREFIX": f"w{uuid.uuid4().hex[:10]}.",
            "INTELSHARE_WEB_PORT": str(self.web_port),
            # a signed checkpoint each second (default 10 s), for the witness and exports
            "INTELSHARE_CHECKPOINT_SECONDS": "1",
        }
        self.ran: set[str] = set()

    def _printed(self, line: str) -> str:
        """The README line ``line`` is (or fills in); fails when the README has no such line."""
        printed = line
        if line not in _readme_commands():
            filled = (t for t, runs in FILLED.items() for run in runs if run == line)
            printed = next(filled, line)
        assert printed in _readme_commands(), f"not in the README: {printed}"
        self.ran.add(printed)
        return printed

    def __call__(self, line: str, expect: int = 0, **fill: str) -> subprocess.CompletedProcess[str]:
        self._printed(line)
        done = subprocess.run(
            ["bash", "-c", line.format(**fill) if fill else line],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == expect, f"$ {line}\n{done.stdout}\n{done.stderr}"
        return done

    def background(self, line: str, log: Path) -> subprocess.Popen[bytes]:
        self._printed(line)
        with log.open("ab") as out:
            return subprocess.Popen(
                ["bash", "-c", f"exec {line}"],
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def _files(folder: Path) -> dict[str, Any]:
    """The files the README's commands name: reports, reference data, agreements."""
    unit = {"unit_id": "KZ-PIU-ASTANA", "facility_id": "KZ-F-101"}
    subject = [{"subject_id": "KZ-P-000101", "role": "SUBJECT"}]
    first = incident(event_id=EVENT, subjects=subject, **unit)
    second = incident(subjects=subject, narrative="Seen passing notes in the library.", **unit)
    lost = incident(unit_id="KZ-PIU-ASTANA", facility_id="KZ-F-999")  # no such facility yet
    (folder / "reports.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (first, lost)))
    (folder / "report.json").write_text(json.dumps(second, indent=2) + "\n")
    (folder / "reference.jsonl").write_text(json.dumps(facility("KZ-F-101", "KZ")) + "\n")
    # every field of the report (subject ids pseudonymised), so the agency's STIX export can be
    # submitted again
    disclosed = agreement("KZ-KNB-2026-01", "kz-knb") | {"disclose": list(FIELDS)}
    (folder / "agreements.yaml").write_text(yaml.safe_dump([disclosed]))
    return {"reports": [first, second], "dead": lost}


def _get(url: str, user: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)  # noqa: S310 (http on 127.0.0.1)
    if user is not None:
        token = base64.b64encode(":".join(user).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        request.add_header("Accept", "application/taxii+json;version=2.1")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (127.0.0.1)
        return answer.status, answer.read().decode()


def _wait(what: str, check: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@pytest.mark.timeout(600)
def test_every_readme_command_runs_as_printed(kafka_bootstrap: str, tmp_path: Path) -> None:
    """An operator sets up, a unit submits, an agency consumes, an overseer audits, an
    operator rotates keys and handles dead letters: each step a README line as printed."""
    folder = tmp_path / "work"
    folder.mkdir()
    files = _files(folder)
    sh = Shell(folder, kafka_bootstrap)

    sh("intelshare topics create")
    sh("intelshare keys generate --exchange")
    sh("intelshare keys generate --agency kz-knb")
    sh('intelshare agencies register --id kz-knb --name "..." --country KZ --public-key kz-knb.pub')
    listed = sh("intelshare agencies list --json")
    assert [json.loads(x)["agency_id"] for x in listed.stdout.splitlines()] == ["kz-knb"]
    assert "kz-knb" in sh("intelshare agencies list").stdout
    sh("intelshare reference load reference.jsonl")
    sh("intelshare agreements apply agreements.yaml")
    assert "KZ-KNB-2026-01" in sh("intelshare agreements list").stdout

    log = tmp_path / "worker.log"
    worker = sh.background("intelshare worker", log)
    try:
        _wait("the worker", lambda: bool((worker_status(sh.web_port) or {}).get("ready")))
        # the log line follows the status page's "ready" by one turn of the worker's loop
        _wait("worker_ready in its log", lambda: "worker_ready" in log.read_text(), timeout=10)
        _unit_and_agency(sh, files, tmp_path)
        _overseer(sh, tmp_path)
        _later(sh, files, tmp_path)
    finally:
        _stop(worker)

    unaccounted = [
        line for line in _readme_commands() if line not in sh.ran and line not in ELSEWHERE
    ]
    assert not unaccounted, f"README lines no test runs: {unaccounted}"


def _answers(url: str, user: tuple[str, str] | None = None) -> bool:
    try:
        return _get(url, user)[0] == 200
    except OSError:
        return False


def _unit_and_agency(sh: Shell, files: dict[str, Any], tmp_path: Path) -> None:
    """A unit submits (JSON, then STIX bundles), an agency consumes in each format."""
    sent = sh("intelshare submit reports.jsonl")
    assert EVENT in sent.stdout
    sh("cat report.json | intelshare submit -")
    dead = "intelshare deadletter list"
    _wait("the dead letter", lambda: files["dead"]["event_id"] in sh(dead).stdout)

    bundles: list[str] = []

    def both() -> bool:
        bundles.extend(sh("intelshare consume --agency kz-knb --format stix21").stdout.split("\n"))
        bundles[:] = [b for b in bundles if b.strip()]
        return len(bundles) >= 2

    _wait("both disclosures", both)
    reports = [json.loads(b)["objects"] for b in bundles]
    assert all(any(o["type"] == "report" for o in objects) for objects in reports)
    assert "0 new" in sh("intelshare consume --agency kz-knb").stderr  # all read already
    pretty = sh("intelshare consume --agency kz-knb --from-beginning --pretty")
    for report in files["reports"]:
        assert report["event_id"] in pretty.stdout
    assert "KZ-P-000101" not in pretty.stdout  # pseudonymised for kz-knb
    status = sh("intelshare status 3f2b8c1e-5d4a-4f6b-9c2d-7e8f9a0b1c2d")
    assert "KZ-KNB-2026-01" in status.stdout
    as_json = sh("intelshare status 3f2b8c1e-5d4a-4f6b-9c2d-7e8f9a0b1c2d --json")
    assert json.loads(as_json.stdout)["event_id"] == EVENT
    # what the agency's tools export, a unit's tools may submit (to this or another exchange)
    (sh.folder / "bundles.jsonl").write_text("\n".join(bundles) + "\n")
    again = sh("intelshare submit --format stix21 bundles.jsonl")
    assert EVENT in again.stdout

    taxii = sh.background("intelshare taxii serve --agency kz-knb", tmp_path / "taxii.log")
    try:
        password = sh.folder / ".intelshare" / "taxii" / "kz-knb.password"
        _wait("the TAXII server", password.exists, 30)
        url = "http://127.0.0.1:6068/taxii2/"
        _wait("the TAXII server", lambda: _answers(url, ("kz-knb", password.read_text().strip())))
        assert not _answers(url, ("kz-knb", "not-the-password"))
    finally:
        _stop(taxii)


def _overseer(sh: Shell, tmp_path: Path) -> None:
    """The oversight body verifies, exports, queries, proves and reads the page."""
    assert "sound" in sh("intelshare audit verify").stdout
    sh("intelshare audit export --out copy.jsonl")
    (sh.folder / "old.jsonl").write_bytes((sh.folder / "copy.jsonl").read_bytes())
    sh("intelshare audit verify --file copy.jsonl --exchange-key exchange.pub")
    query = sh("intelshare audit query --recipient kz-knb --since 2026-11-01T00:00:00Z")
    assert EVENT in query.stdout
    sh("intelshare keys export-link --out .")
    about = sh("intelshare audit query --subject KZ-P-000101 --link-key oversight.link.key")
    assert EVENT in about.stdout
    records = sh("intelshare audit query --recipient kz-knb --json")
    disclosure = json.loads(records.stdout.splitlines()[0])["disclosure_id"]
    assert "kz-knb" in sh("intelshare audit stats").stdout
    sh("intelshare audit prove {disclosure} --out proof.json", disclosure=disclosure)
    sh("intelshare audit check-proof proof.json --exchange-key exchange.pub")
    history = sh("intelshare agreements history KZ-KNB-2026-01")
    assert history.stdout.startswith("v1\t")  # one line per version applied

    serve = (
        "intelshare oversight serve --port 6067 --exchange-key exchange.pub"
        " --link-key oversight.link.key"
    )
    page = sh.background(serve, tmp_path / "page.log")
    try:
        _wait("the page", lambda: _answers("http://127.0.0.1:6067/"), 30)
        code, html = _get("http://127.0.0.1:6067/?recipient=kz-knb&agreement=KZ-KNB-2026-01")
        assert code == 200
        assert EVENT in html
    finally:
        _stop(page)


def _later(sh: Shell, files: dict[str, Any], tmp_path: Path) -> None:
    """The facility of the dead letter is loaded and it is replayed; a witness cosigns; the
    log only grew; keys are rotated and older disclosures still open."""
    lines = [facility("KZ-F-101", "KZ"), facility("KZ-F-999", "KZ")]
    (sh.folder / "reference.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    sh("intelshare reference load reference.jsonl")
    sh("intelshare deadletter replay")
    events: list[str] = []

    def replayed() -> bool:
        events.extend(sh("intelshare consume --agency kz-knb --format misp").stdout.split("\n"))
        return any(files["dead"]["event_id"] in e for e in events)

    _wait("the replayed report", replayed)
    # What the witness will cosign: every record, once the log has stopped growing (the
    # worker records consultations from `consume`'s receipts a moment later, issue 13).
    seen: list[str] = []

    def signed() -> bool:
        shown = sh("intelshare audit verify").stdout
        found = re.search(r"sound: (\d+) records.*?(\d+) under the latest signed checkpoint", shown)
        if found is None or found[1] != found[2]:
            return False
        seen.append(found[1])
        return len(seen) >= 2 and seen[-1] == seen[-2]

    _wait("its signed checkpoint", signed)
    assert int(seen[-1]) > 2 * len(files["reports"])  # a collection and a disclosure each, ...

    sh("intelshare keys generate --witness w-one")
    sh("intelshare witness run --key w-one.witness.key --state witness-state --once")
    sh("intelshare audit verify --witness-key w-one.witness.pub --min-cosignatures 1")
    sh("intelshare audit export --out copy.jsonl")
    sh("intelshare audit consistency old.jsonl copy.jsonl --exchange-key exchange.pub")
    sh("intelshare audit verify --file copy.jsonl --exchange-key exchange.pub --witness-key "
       "w-one.witness.pub")  # fmt: skip
    records_json = sh("intelshare audit query --recipient kz-knb --json").stdout.splitlines()
    disclosure = json.loads(records_json[-1])["disclosure_id"]
    sh("intelshare audit prove {disclosure} --out proof.json", disclosure=disclosure)
    sh("intelshare audit check-proof proof.json --exchange-key exchange.pub --witness-key "
       "w-one.witness.pub --min-cosignatures 1")  # fmt: skip

    sh("intelshare keys rotate --exchange")
    sh("intelshare keys rotate --agency kz-knb")
    sh('intelshare agencies register --id kz-knb --name "..." --country KZ'
       " --public-key kz-knb.pub --replace")  # fmt: skip
    again = sh("intelshare consume --agency kz-knb --from-beginning --pretty")
    assert "0 refused" in again.stderr  # the rotated key still opens the older disclosures
