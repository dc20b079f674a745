"""Latency and fault injection, driven by one seeded RNG so test runs are reproducible.

A `FaultRule` is scoped (path prefix, method, key) and says what goes wrong: an HTTP
error at a ratio (429/500/503), a hang, a body cut mid-JSON, or a run/response that
ends badly (`failed`, `incomplete`, `expired`). `times` bounds how often a rule fires,
which makes "fail twice, then succeed" retry tests deterministic.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields

HTTP_FAULTS = ("error_429", "error_500", "error_503", "hang", "truncated")
RUN_OUTCOMES = ("failed", "incomplete", "expired", "cancelled")
RESPONSE_OUTCOMES = ("failed", "incomplete")
RUN_ERROR_CODES = ("server_error", "rate_limit_exceeded", "invalid_prompt")


@dataclass
class LatencySpec:
    """How long a model "thinks": fixed, uniform or lognormal, in milliseconds."""

    kind: str = "fixed"
    ms: float = 0.0
    min_ms: float = 0.0
    max_ms: float = 0.0
    median_ms: float = 0.0
    sigma: float = 0.5

    @classmethod
    def from_value(cls, value: object) -> LatencySpec:
        """Accept None, a number (fixed ms), "fixed:200", "uniform:100:500",
        "lognormal:300:0.5" (median ms, sigma) or a mapping of the fields."""
        if value is None:
            return cls()
        if isinstance(value, LatencySpec):
            return value
        if isinstance(value, (int, float)):
            return cls(kind="fixed", ms=float(value))
        if isinstance(value, dict):
            spec = cls(**value)
        else:
            kind, *numbers = str(value).split(":")
            args = [float(n) for n in numbers]
            if kind == "fixed" and len(args) == 1:
                spec = cls(kind="fixed", ms=args[0])
            elif kind == "uniform" and len(args) == 2:
                spec = cls(kind="uniform", min_ms=args[0], max_ms=args[1])
            elif kind == "lognormal" and len(args) in (1, 2):
                spec = cls(
                    kind="lognormal", median_ms=args[0], sigma=args[1] if len(args) == 2 else 0.5
                )
            else:
                raise ValueError(
                    f"bad latency {value!r}; try fixed:200, uniform:100:500, lognormal:300:0.5"
                )
        if spec.kind not in ("fixed", "uniform", "lognormal"):
            raise ValueError(f"latency kind must be fixed, uniform or lognormal, not {spec.kind!r}")
        return spec

    def sample_seconds(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            ms = self.ms
        elif self.kind == "uniform":
            ms = rng.uniform(self.min_ms, self.max_ms)
        else:
            ms = (
                self.median_ms * math.exp(rng.gauss(0.0, self.sigma)) if self.median_ms > 0 else 0.0
            )
        return max(ms, 0.0) / 1000.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FaultRule:
    path_prefix: str = ""
    method: str | None = None
    key: str | None = None  # key name or the key itself
    error_429: float = 0.0
    error_500: float = 0.0
    error_503: float = 0.0
    hang: float = 0.0
    truncated: float = 0.0
    run_outcome: str | None = None
    run_error_code: str = "server_error"
    response_outcome: str | None = None
    outcome_rate: float = 1.0
    retry_after_ms: int | None = None
    times: int | None = None  # None = no limit; counts down each time the rule fires

    @classmethod
    def from_mapping(cls, raw: dict) -> FaultRule:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        rule = cls(**raw)
        if rule.run_outcome is not None and rule.run_outcome not in RUN_OUTCOMES:
            raise ValueError(f"run_outcome must be one of {RUN_OUTCOMES}")
        if rule.response_outcome is not None and rule.response_outcome not in RESPONSE_OUTCOMES:
            raise ValueError(f"response_outcome must be one of {RESPONSE_OUTCOMES}")
        if rule.run_error_code not in RUN_ERROR_CODES:
            raise ValueError(f"run_error_code must be one of {RUN_ERROR_CODES}")
        return rule

    def matches(self, method: str, path: str, key_name: str | None, key: str | None) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.key and self.key not in (key_name, key):
            return False
        return path.startswith(self.path_prefix)

    def to_dict(self) -> dict:
        return asdict(self)


class FaultInjector:
    """Decides, per request, whether a configured fault happens."""

    def __init__(self, rules: list[FaultRule], seed: int) -> None:
        self.rules = list(rules)
        self.rng = random.Random(seed)

    def _fire(self, rule: FaultRule) -> None:
        if rule.times is not None:
            rule.times -= 1

    def http_fault(self, method: str, path: str, key_name: str | None, key: str | None):
        """Return (fault name, rule) for the first matching rule that fires, else None."""
        for rule in self.rules:
            if not rule.matches(method, path, key_name, key):
                continue
            ratios = [getattr(rule, name) for name in HTTP_FAULTS]
            if not any(ratios):
                continue
            draw = self.rng.random()
            threshold = 0.0
            for name, ratio in zip(HTTP_FAULTS, ratios, strict=True):
                threshold += ratio
                if draw < threshold:
                    self._fire(rule)
                    return name, rule
        return None

    def _outcome(
        self, attribute: str, method: str, path: str, key_name: str | None, key: str | None
    ):
        for rule in self.rules:
            if getattr(rule, attribute) is None or not rule.matches(method, path, key_name, key):
                continue
            if rule.outcome_rate >= 1.0 or self.rng.random() < rule.outcome_rate:
                self._fire(rule)
                return rule
        return None

    def run_outcome(
        self, method: str, path: str, key_name: str | None, key: str | None
    ) -> FaultRule | None:
        return self._outcome("run_outcome", method, path, key_name, key)

    def response_outcome(
        self, method: str, path: str, key_name: str | None, key: str | None
    ) -> FaultRule | None:
        return self._outcome("response_outcome", method, path, key_name, key)
