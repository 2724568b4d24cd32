"""Finding messages read as one sentence: no phrase said twice (a sink's text and the rule's template
each saying "without a membership check" gave "... without a membership check without a membership check")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orgguard.engine.findings import Finding
from orgguard.engine.runner import load_project, run

from .conftest import fixture_apps, write_tree

PHRASE = 4  # words


def repeated_phrase(message: str, size: int = PHRASE) -> str | None:
    """The first run of ``size`` or more words that occurs twice in ``message`` (case and punctuation aside)."""
    words = [w for w in (re.sub(r"^\W+|\W+$", "", w).lower() for w in message.split()) if w]
    seen: set[tuple[str, ...]] = set()
    for i in range(len(words) - size + 1):
        gram = tuple(words[i : i + size])
        if gram in seen:
            return " ".join(gram)
        seen.add(gram)
    return None


def test_repeated_phrase() -> None:
    assert (
        repeated_phrase("x without a membership check without a membership check; fix") == "without a membership check"
    )
    assert repeated_phrase("Invoice.objects.get() reads tenant-owned Invoice with no organization predicate") is None
    assert repeated_phrase("a b c d, then A B C D.") == "a b c d"


def _findings(root: Path) -> list[Finding]:
    return run(load_project(root), [root], jobs=1, cwd=root).findings


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_no_fixture_message_repeats_a_phrase(app: Path) -> None:
    findings = _findings(app)
    assert findings, "the fixture app should have findings"
    doubled = [(f.path, f.line, f.code, phrase, f.message) for f in findings if (phrase := repeated_phrase(f.message))]
    assert not doubled, doubled


MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
# one resolver that looks the org up without a membership check, reached as each rule's source
VIEWS = """\
import csv

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse

from app.models import Invoice, Organization


def load_org(org_id):
    return Organization.objects.get(pk=org_id)


def detail(request, org_id):
    org = load_org(org_id)
    return Invoice.objects.filter(organization=org)


def from_session(request):
    org = load_org(request.session["org_id"])
    return Invoice.objects.filter(organization=org)


@staff_member_required
def staff_view(request, org_id):
    org = load_org(org_id)
    return Invoice.objects.filter(organization=org)


def export_invoices(request):
    org = load_org(request.GET["org"])
    response = HttpResponse(content_type="text/csv")
    writer = csv.writer(response)
    for invoice in Invoice.objects.filter(organization=org):
        writer.writerow([invoice.pk])
    return response
"""


def test_an_unverified_resolver_is_named_once_in_every_rule_that_reports_it(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": VIEWS})
    findings = _findings(project)
    assert [(f.line, f.code) for f in findings] == [(14, "ORG102"), (19, "ORG105"), (25, "ORG201"), (30, "ORG401")]
    for f in findings:
        assert repeated_phrase(f.message) is None, f.message
        assert f.message.count("load_org() looking up Organization by org_id") == 1, f.message
    said = {f.code: f.message for f in findings}
    assert "by org_id without a membership check; use " in said["ORG102"]
    assert "by org_id without re-checking membership; " in said["ORG105"]
    assert "(load_org() looking up Organization by org_id) without a membership gate" in said["ORG201"]
    assert said["ORG401"].startswith("load_org() looking up Organization by org_id takes the org from request.GET")
