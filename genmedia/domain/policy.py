"""The prompt content policy: terms and regular expressions from a file, checked before any generation.

GENMEDIA_CONTENT_POLICY_FILE holds one rule a line: a term (matched as whole words, any case) or
`re:<regular expression>` (searched, any case); `#` starts a comment. A prompt that matches is refused
with INVALID_ARGUMENT, reason CONTENT_POLICY, naming the field (never echoing the rule)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from genmedia.config import ConfigError, Section, Var, env_str
from genmedia.domain.errors import ServiceError


@dataclass(frozen=True)
class ContentPolicy:
    rules: tuple[re.Pattern[str], ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls) -> ContentPolicy:
        path = env_str("GENMEDIA_CONTENT_POLICY_FILE", "")
        if not path:
            return cls()
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as err:
            raise ConfigError(f"GENMEDIA_CONTENT_POLICY_FILE: cannot read {path}: {err.strerror}") from None
        return cls.parse(lines, path)

    @classmethod
    def parse(cls, lines: list[str], source: str = "policy") -> ContentPolicy:
        rules = []
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                if line.startswith("re:"):
                    rules.append(re.compile(line[3:], re.IGNORECASE))
                else:
                    rules.append(re.compile(rf"(?<!\w){re.escape(line)}(?!\w)", re.IGNORECASE))
            except re.error as err:
                raise ConfigError(f"GENMEDIA_CONTENT_POLICY_FILE: {source} line {number}: bad expression: {err}") \
                    from None
        return cls(tuple(rules))

    def check(self, texts: list[tuple[str, str]]) -> None:
        """Refuses when any (field, text) matches a rule, naming every field that does."""
        refused = [(name, "is refused by the content policy") for name, text in texts
                   if text and any(rule.search(text) for rule in self.rules)]
        if refused:
            raise ServiceError(grpc.StatusCode.INVALID_ARGUMENT,
                               "; ".join(f"{name}: {why}" for name, why in refused), "CONTENT_POLICY", refused)


ENV = Section("Content policy", (
    Var("GENMEDIA_CONTENT_POLICY_FILE", "unset",
        "one rule a line: a term (whole words, any case) or `re:<expression>`; a matching prompt is refused "
        "(INVALID_ARGUMENT, CONTENT_POLICY)"),
))
