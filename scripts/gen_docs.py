"""Regenerate docs/rules/*.md from rules/*.toml. The drift test fails when this was not run."""

from __future__ import annotations

import sys
from pathlib import Path

from orgguard.docs import rule_markdown
from orgguard.registry import all_rules

DOCS = Path(__file__).resolve().parent.parent / "docs" / "rules"


def expected_pages() -> dict[Path, str]:
    return {DOCS / f"{code}.md": rule_markdown(rule) for code, rule in sorted(all_rules().items())}


def main() -> int:
    DOCS.mkdir(parents=True, exist_ok=True)
    pages = expected_pages()
    for stale in set(DOCS.glob("ORG*.md")) - set(pages):
        stale.unlink()
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(pages)} rule pages to {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
