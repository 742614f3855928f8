"""The package's layers point down only (docs/architecture.md), and no module is over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "autoenc"
#: lower numbers sit lower; a module may import its own layer and the ones below
LAYER = {"errors": 0, "fileio": 0, "nn": 0, "codeversion": 0, "parallel": 0,
         "models": 1, "datasets": 1, "stats": 1, "study": 2,
         "viz": 3, "features": 3, "export": 3, "codec": 4, "quantizer": 4, "bitstream": 4, "analysis": 5, "report": 6,
         "cli": 7}
#: ``python -m autoenc.study`` keeps working through a two-line shim to the CLI
ALLOWED = {("study/__main__.py", "cli")}


def _imports(path: Path) -> list[tuple[str, int]]:
    """Top-level autoenc packages a file imports (relative and absolute imports)."""
    rel = path.relative_to(ROOT).parts
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-1])[: len(rel) - node.level] if node.level > 1 else list(rel[:-1])
                parts = base + (node.module.split(".") if node.module else [])
                if not parts:  # "from . import x" at the package root
                    parts = [a.name for a in node.names]
                out.append((parts[0], node.lineno))
            elif node.module and node.module.split(".")[0] == "autoenc" and len(node.module.split(".")) > 1:
                out.append((node.module.split(".")[1], node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("autoenc.") and len(a.name.split(".")) > 1:
                    out.append((a.name.split(".")[1], node.lineno))
    return out


def test_imports_point_down_only():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        own = rel.parts[0].removesuffix(".py")
        if own not in LAYER:
            continue
        for target, line in _imports(path):
            target = target.removesuffix(".py")
            if target in LAYER and LAYER[target] > LAYER[own] and (rel.as_posix(), target) not in ALLOWED:
                upward.append(f"{rel}:{line} imports {target}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_every_layer_is_known():
    packages = {p.name.removesuffix(".py") for p in ROOT.iterdir() if not p.name.startswith("_")
                and (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert packages - {"studies"} <= set(LAYER), f"place {packages - set(LAYER)} in LAYER (docs/architecture.md)"


def test_report_only_renders():
    """The report package computes nothing: it imports the content model and the context from
    ``analysis`` and no statistics, models, data or plotting of its own."""
    computing = {"stats", "models", "datasets", "viz", "features", "codec", "nn"}
    found = [f"{p.relative_to(ROOT)} imports {target}" for p in sorted((ROOT / "report").rglob("*.py"))
             for target, _ in _imports(p) if target in computing and p.name != "provenance.py"]
    assert not found, found


def test_no_module_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not long, long
