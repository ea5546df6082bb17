"""The layers of streams/__init__.py hold: every import goes down, none up, and no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import PROJECT_ROOT

LAYERS = {
    "streams": 1,
    "streams.errors": 1,
    "streams.settings": 1,
    "streams.log": 1,
    "streams.core": 2,
    "streams.topics": 2,
    "streams.audit": 3,
    "streams.formats": 3,
    "streams.kafka": 4,
    "streams.web": 5,
    "streams.cli": 6,
    "agents": 6,
    "ops": 6,
}
"""The rank of each part; a module may import parts of its rank or lower."""
KAFKA_CLIENTS = ("kafka", "aiokafka", "confluent_kafka", "quixstreams", "aiohttp")


def _part(module: str) -> str | None:
    for part in sorted(LAYERS, key=len, reverse=True):
        if module == part or module.startswith(part + "."):
            return part
    return None


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("streams", "agents", "ops"):
        for path in sorted((PROJECT_ROOT / top).rglob("*.py")):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


MODULES = _modules()


def _edges() -> dict[str, set[str]]:
    return {
        name: {m for m in imports_of(path, name) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name: str) -> None:
    """A module imports only from its own layer or the layers below it."""
    part = _part(name)
    assert part is not None, f"{name} is in no layer of streams/__init__.py"
    upward = [
        m
        for m in imports_of(MODULES[name], name)
        if (other := _part(m)) is not None and LAYERS[other] > LAYERS[part]
    ]
    assert upward == [], f"{name} imports from a higher layer: {upward}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _part(m) != "streams.kafka"))
def test_kafka_clients_only_in_streams_kafka_agents_and_tops(name: str) -> None:
    """Kafka and HTTP client libraries are imported only by streams.kafka, the web app, the
    agents and the top layer; never by the pure core or the audit log."""
    part = _part(name)
    if part is not None and LAYERS[part] >= 5:
        return
    clients = [m for m in imports_of(MODULES[name], name) if m.split(".")[0] in KAFKA_CLIENTS]
    assert clients == [], f"{name} imports client libraries: {clients}"


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: a core module importing streams.kafka is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from streams.kafka.clients import producer\n")
    found = imports_of(bad, "streams.core.bad")
    assert "streams.kafka.clients" in found
    assert LAYERS[_part("streams.kafka.clients") or ""] > LAYERS["streams.core"]


def test_no_import_cycles() -> None:
    """No module reaches itself through the modules it imports."""
    edges = _edges()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)


def test_no_module_over_400_lines() -> None:
    """Small files: a module past 400 lines is two ideas."""
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


SLOW_TO_LOAD = ("kafka", "confluent_kafka", "quixstreams", "fastavro", "avro", "pycountry", "yaml")
"""Libraries that take tens to hundreds of milliseconds to import."""


def test_the_command_line_parser_loads_no_kafka_client_or_codec() -> None:
    """Every ``intelshare`` run builds the whole parser, so it must not load what only some
    commands use: ``intelshare --help`` or ``keys generate`` starts in a fraction of a second."""
    script = (
        "import sys; from streams.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {SLOW_TO_LOAD!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
