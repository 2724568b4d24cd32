"""Rule documentation rendered from ``rules/*.toml`` (docs/rules/ORGnnn.md and ``orgguard explain``)."""

from __future__ import annotations

from orgguard.registry import Rule


def rule_markdown(rule: Rule) -> str:
    """The page for one rule, in Ruff's fixed sections."""
    d = rule.docs
    refs = "\n".join(f"- <{ref}>" for ref in d.references)
    cwe = f" · {rule.cwe}" if rule.cwe else ""
    return (
        f"# {rule.code} {rule.name}\n\n"
        f"*Path class:* {rule.path_class} · *Severity:* {rule.severity}{cwe}\n\n"
        f"*Seed:* {rule.seed}\n\n"
        f"## What it does\n\n{d.what}\n\n"
        f"## Why is this bad?\n\n{d.why}\n\n"
        f"## Example\n\n```python\n{d.example}\n```\n\n"
        f"## Use instead\n\n```python\n{d.use_instead}\n```\n\n"
        f"## Options\n\n{d.options}\n\n"
        f"## References\n\n{refs}\n"
    )


def rule_text(rule: Rule) -> str:
    """Plain-text form for the terminal (`orgguard explain`)."""
    return rule_markdown(rule).replace("```python\n", "").replace("```\n", "")
