"""Rule documentation rendered from ``rules/*.toml`` (docs/rules/ORGnnn.md and ``orgguard explain``)."""

from __future__ import annotations

from orgguard.registry import DEFAULT, Rule, Template, shared_parts, traits


def rule_markdown(rule: Rule) -> str:
    """The page for one rule, in Ruff's fixed sections (and the rule's message templates)."""
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
        f"{messages_markdown(rule)}"
        f"## References\n\n{refs}\n"
    )


def _template_lines(template: Template, table: str) -> list[str]:
    """``name = text``, or the name and one indented line per variant, as the TOML file names them."""
    name = template.name if template.name == "message" else f"{table}{template.name}"
    if list(template.variants) == [DEFAULT]:
        return [f"{name} = {template.variants[DEFAULT]}"]
    width = max(len(key) for key in template.variants)
    return [name] + [f"  {key.ljust(width)} = {text}" for key, text in template.variants.items()]


def messages_markdown(rule: Rule) -> str:
    """The *Messages* section: the rule's message shapes, its own parts and the fields they take."""
    shapes = [line for name in rule.shapes for line in _template_lines(rule.templates[name], "messages.")]
    out = [
        "## Messages",
        "",
        "A finding's message is one of these templates (`rules/" + rule.code + ".toml`). Each `{field}` is",
        "filled with a name or a code fragment from the checked code, or with the part of that name; a",
        "template with variants reads as the one whose [traits](index.md#message-traits) the finding has.",
        "",
        "```text",
        *shapes,
        "```",
        "",
    ]
    if rule.parts:
        out += ["Parts:", "", "```text"]
        out += [line for name in rule.parts for line in _template_lines(rule.templates[name], "parts.")]
        out += ["```", ""]
    if rule.fields:
        out += ["| field | meaning |", "|---|---|"]
        out += [f"| `{name}` | {meaning} |" for name, meaning in sorted(rule.fields.items())]
        out.append("")
    return "\n".join(out) + "\n"


def shared_messages_markdown() -> str:
    """The traits that pick template variants and the parts every rule may use (``rules/messages.toml``)."""
    out = [
        "## Message traits",
        "",
        "A message template may have variants; a finding gets the variant whose traits it all has, with",
        "the most traits (ties: the trait listed first here), else `default`. A file has the traits of",
        "the modules it imports; checkers add what they know of the finding.",
        "",
        "| trait | when | modules |",
        "|---|---|---|",
    ]
    for trait in traits():
        modules = ", ".join(f"`{m}`" for m in trait.modules) or "—"
        out.append(f"| `{trait.name}` | {trait.doc} | {modules} |")
    out += ["", "## Shared message parts", "", "Parts any rule's templates may use (`rules/messages.toml`):", ""]
    out += ["```text", *(line for t in shared_parts().values() for line in _template_lines(t, "parts.")), "```"]
    return "\n".join(out) + "\n"


def rule_text(rule: Rule) -> str:
    """Plain-text form for the terminal (`orgguard explain`)."""
    text = rule_markdown(rule)
    for fence in ("```python\n", "```text\n", "```\n"):
        text = text.replace(fence, "")
    return text
