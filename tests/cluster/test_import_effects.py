"""Importing the packages changes nothing in the process; starting Raft leaves socket alone;
only the node's config loader reads the environment.

The import check runs in a fresh interpreter: this test process has long since imported
everything.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("node", "providers", "store", "cluster")

# Records the process state, imports every module of the four packages, records it again.
SCRIPT = r"""
import importlib, json, logging, socket, sys
import structlog

def state():
    root = logging.getLogger()
    return {"inet_ntop": socket.inet_ntop is ORIGINAL, "handlers": len(root.handlers),
            "level": root.level, "structlog": structlog.is_configured(),
            "logger_classes": logging.getLoggerClass().__name__,
            "pysyncobj": "pysyncobj" in sys.modules}

ORIGINAL = socket.inet_ntop
before = state()
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
after_import = state()
from cluster.raft import load_pysyncobj
load_pysyncobj()
print(json.dumps({
    "before": before, "after_import": after_import,
    "after_load": state(),
    "v4": socket.inet_ntop(socket.AF_INET, b"\x7f\x00\x00\x01"),
    "v6": socket.inet_ntop(socket.AF_INET6, b"\x00" * 15 + b"\x01"),
}))
"""


def _module_names() -> list[str]:
    return [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__main__.py"
    ]


def test_importing_every_module_has_no_side_effects_and_raft_leaves_socket_alone() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(_module_names())],
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    before = result["before"]
    assert before["inet_ntop"] and not before["structlog"] and not before["pysyncobj"]
    # Importing: no socket patch, no logging or structlog configuration, and pysyncobj (whose
    # import is what patches socket) is not imported yet.
    assert result["after_import"] == before
    # Loading pysyncobj when Raft starts still leaves socket.inet_ntop the stdlib's own.
    assert result["after_load"] == {**before, "pysyncobj": True}
    assert (result["v4"], result["v6"]) == ("127.0.0.1", "::1")


def _reads_environment(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.lineno for node in ast.walk(tree)
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"))
            or (isinstance(node, ast.ImportFrom) and node.module == "os"
                and any(a.name in ("environ", "getenv") for a in node.names))]


def test_only_the_node_config_loader_reads_the_environment() -> None:
    """Fault hooks and every other setting arrive through config objects, not os.environ."""
    readers = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := _reads_environment(path))
    }
    assert all(name.startswith("node/config") for name in readers), readers
    assert readers, "the node's config loader reads the environment"
