"""docs/configuration.md is generated from the settings objects' declarations (services/configdoc.py): it must
be current, list every GENMEDIA_* variable the code of genmedia/ and services/ reads, list none it does not
read, and show the defaults the code uses."""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path

from services import configdoc

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"GENMEDIA_[A-Z0-9_]+")
READERS = {"env_str", "env_int", "env_float", "env_bool", "secret"}
# Read as '' and then filled in by the code: a folder or file under GENMEDIA_VAR_DIR, ratelimit.DEFAULT_LIMITS,
# a random session secret.
FALLBACKS = {"GENMEDIA_ASSET_URL", "GENMEDIA_LIMITS", "GENMEDIA_WEBHOOK_SECRET", "GENMEDIA_GATEWAY_SESSION_SECRET"}
OPS = {ast.Mult: operator.mul, ast.Add: operator.add, ast.Sub: operator.sub}


def declared() -> dict[str, str]:
    """Every declared variable: its name (placeholders kept) -> its default as shown."""
    return {var.name: var.default for _, section in configdoc.sections() for var in section.variables}


def pattern(name: str) -> re.Pattern[str]:
    """A declared name with its <PLACEHOLDERS> as a regular expression."""
    return re.compile("^" + re.sub(r"<[A-Z]+>", "[A-Z0-9_]+", re.escape(name).replace(r"\<", "<").replace(r"\>", ">"))
                      + "$")


def sources() -> list[Path]:
    return [p for top in ("genmedia", "services") for p in sorted((ROOT / top).rglob("*.py"))
            if "v1" not in p.relative_to(ROOT).parts]


def names_in_code() -> tuple[set[str], set[str]]:
    """Variable names in the code's strings (whole names), and f-string names as patterns (`{…}`: any part)."""
    literal, formatted = set(), set()
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literal |= {m for m in NAME.findall(node.value) if not m.endswith("_")}  # (_: a prefix, a pattern)
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
                if text.startswith("GENMEDIA_") and "{}" in text:
                    formatted.add(re.match(r"GENMEDIA_[A-Z0-9_{}]*", text).group(0).rstrip("_"))
    return literal, formatted


def constant(node: ast.AST) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        return OPS[type(node.op)](constant(node.left), constant(node.right))
    raise ValueError("not a constant")


def shown(value: object) -> str:
    if value == "" or value is None:
        return "unset"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_the_reference_is_current():
    assert configdoc.DOC.read_text() == configdoc.render(), "run: python -m services.configdoc"


def test_every_variable_the_code_reads_is_declared_and_every_declared_one_is_read():
    patterns = {name: pattern(name) for name in declared()}
    literal, formatted = names_in_code()
    undeclared = sorted(n for n in literal if not any(p.match(n) for p in patterns.values()))
    assert not undeclared, f"declare these in their settings object's Section: {undeclared}"
    samples = {name: re.sub(r"<[A-Z]+>", "X", name) for name in patterns}
    for code in formatted:  # an f-string name matches at least one declared variable
        regex = re.compile("^" + re.escape(code).replace(r"\{\}", "[A-Z0-9_]+") + "$")
        assert any(regex.match(sample) for sample in samples.values()), f"no declared variable for {code}"
    unread = [name for name, p in patterns.items() if not any(p.match(n) for n in literal)
              and not any(re.compile("^" + re.escape(c).replace(r"\{\}", "[A-Z0-9_]+") + "$").match(samples[name])
                          for c in formatted)]
    assert not unread, f"declared but never read: {unread}"


def test_the_defaults_shown_are_the_codes():
    shown_defaults = declared()
    checked = 0
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in READERS and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value in shown_defaults):
                continue
            name = node.args[0].value
            if name in FALLBACKS:
                continue
            if len(node.args) < 2:
                assert shown_defaults[name] == "unset", name  # a secret has no default
                checked += 1
                continue
            try:
                value = constant(node.args[1])
            except ValueError:
                continue  # computed (a path under GENMEDIA_VAR_DIR, a port table): described in words
            assert shown_defaults[name] == shown(value), f"{path.name}: {name} defaults to {value!r} in the code"
            checked += 1
    assert checked > 60
