"""The code's structure rules (the owners' brief): no import cycle and no private name (`_x`) used across
modules in genmedia/ and services/, and no module over 300 lines unless its first lines say why
(a line with "over 300 lines"). Generated code (genmedia/v1) is left out."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("genmedia", "services")
MAX_LINES = 300
WHY = re.compile(r"over 300 lines", re.IGNORECASE)


def modules() -> dict[str, Path]:
    found = {}
    for top in TOPS:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[:2] == ("genmedia", "v1") or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def module_level(tree: ast.Module):
    """The statements run at import: the module's own, and those in its with, if and try blocks."""
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        yield node
        if isinstance(node, (ast.With, ast.If, ast.Try)):
            pending[:0] = [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                           *[s for h in getattr(node, "handlers", []) for s in h.body]]


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for the module's import-time imports of genmedia/services."""
    out = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in module_level(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] in TOPS]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] not in TOPS:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub, []) if sub in known else (base, [alias.name]))
    return out


def test_no_module_imports_another_in_a_cycle():
    known = modules()
    graph = {name: {target for target, _ in imports(name, path, known) if target in known and target != name}
             for name, path in known.items()}
    cycles, index, low, stack, on_stack, counter = [], {}, {}, [], set(), [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_is_used_across_modules():
    known = modules()
    used = []
    for name, path in known.items():
        tree = ast.parse(path.read_text())
        modules_here = {}
        for target, names in imports(name, path, known):
            used += [f"{name} imports {target}.{n}" for n in names if private(n)]
        for node in ast.walk(tree):  # `import x.y as m` / `from x import y as m`, then m._name
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    full = alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
                    if full in known:
                        modules_here[alias.asname or alias.name.split(".")[0]] = full
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and private(node.attr)
                    and node.value.id in modules_here):
                used.append(f"{name} uses {modules_here[node.value.id]}.{node.attr}")
    assert not used, "\n".join(used)


def test_no_module_is_over_300_lines_unless_its_first_lines_say_why():
    long = []
    for path in modules().values():
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES and not any(WHY.search(line) for line in lines[:10]):
            long.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    assert not long, "split these, or say in their first lines why they are over 300 lines: " + ", ".join(long)
