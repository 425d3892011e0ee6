"""Can the base's metrics and this branch's be compared at all? Not when the branch predicts
another target, names another positive class, tests on another window or uses another set
of features: then "better" or "worse" would compare two different questions (a fork that
swapped the flights for hourly bike rentals would read "+0.27 ROC AUC"). And the params of
such a branch differ in every schema key: :func:`schema_summary` says it in one line."""

from __future__ import annotations

from typing import Any

_FEATURES = "schema.features."


def _get(params: dict[str, Any] | None, dotted: str) -> Any:
    value: Any = params or {}
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def not_comparable(head: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    """Why the metrics of ``head`` and ``base`` (their params.yaml) measure different things:
    the target, the positive label, the test window or the feature set differ. Empty when
    they are comparable, or when the base has no params to tell."""
    if not base:
        return []
    reasons = [
        f"{what} differs (`{key}`: {_get(base, key)!r} on the base, {_get(head, key)!r} here)"
        for key, what in (
            ("schema.target", "the target"),
            ("schema.positive_label", "the positive label"),
            ("prepare.test_start", "the test window"),
            ("prepare.production_start", "the test window"),
        )
        if _get(base, key) != _get(head, key)
    ]
    head_features = set(_get(head, "schema.features") or {})
    base_features = set(_get(base, "schema.features") or {})
    if head_features != base_features:
        added = sorted(head_features - base_features)
        removed = sorted(base_features - head_features)
        parts = [f"{len(added)} added", f"{len(removed)} removed"]
        reasons.append(f"the feature set differs ({', '.join(parts)}: {_names(added, removed)})")
    return reasons


def _names(added: list[str], removed: list[str], most: int = 6) -> str:
    named = [f"+{n}" for n in added] + [f"-{n}" for n in removed]
    more = f", … {len(named) - most} more" if len(named) > most else ""
    return ", ".join(named[:most]) + more


def schema_summary(changes: list[tuple[str, Any, Any]]) -> tuple[str, list[tuple[str, Any, Any]]]:
    """("schema: N features added, M removed, K changed; other schema keys changed: ...",
    the schema changes themselves) from params changes (key, base, head); ("", []) when
    the branch changes nothing in ``schema``."""
    inside = [c for c in changes if c[0].startswith("schema.")]
    if not inside:
        return "", []
    features: dict[str, set[str]] = {"added": set(), "removed": set(), "changed": set()}
    others = []
    for key, _, _ in inside:
        if key.startswith(_FEATURES):
            name = key[len(_FEATURES) :].split(".")[0]
            features[_feature_change(name, inside)].add(name)
        else:
            others.append(key)
    counts = ", ".join(f"{len(names)} {what}" for what, names in features.items())
    line = f"schema: {counts} features"
    if others:
        line += f"; also changed: {', '.join(f'`{k}`' for k in others)}"
    return line, inside


def _feature_change(name: str, inside: list[tuple[str, Any, Any]]) -> str:
    keys = [c for c in inside if c[0].startswith(f"{_FEATURES}{name}.") or c[0] == _FEATURES + name]
    if all(o is None for _, o, _ in keys):
        return "added"
    if all(n is None for _, _, n in keys):
        return "removed"
    return "changed"
