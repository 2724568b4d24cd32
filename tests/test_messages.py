"""Finding messages read as one sentence: no phrase said twice (a sink's text and the rule's template
each saying "without a membership check" gave "... without a membership check without a membership check"),
no placeholder left unfilled, and a fix that fits the framework and the shape at hand."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from orgguard.engine.findings import Finding
from orgguard.engine.runner import load_project, run
from orgguard.registry import all_rules

from .conftest import REPO, write_tree

sys.path.insert(0, str(REPO / "scripts"))
import snapshots

PHRASE = 3  # words
PLACEHOLDER = re.compile(r"\{[a-z][a-z0-9_]*\}")


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


def message_problems(message: str) -> list[str]:
    """Why a finding's message is not one clean sentence (empty when it is)."""
    problems = []
    if (phrase := repeated_phrase(message)) is not None:
        problems.append(f"says {phrase!r} twice")
    problems += [f"leaves {p} unfilled" for p in PLACEHOLDER.findall(message)]
    if "message template error" in message:
        problems.append("has a template error")
    return problems


def test_repeated_phrase() -> None:
    assert repeated_phrase("x without a membership check without a membership check; fix") == "without a membership"
    assert repeated_phrase("Invoice.objects.get() reads tenant-owned Invoice with no organization predicate") is None
    assert repeated_phrase("a b c, then A B C.") == "a b c"
    assert repeated_phrase("a b c d a b") is None  # two words again are fine


def test_message_problems_catch_a_doubled_phrase_and_an_unfilled_placeholder() -> None:
    assert message_problems("org id reaches x without a membership check without a membership check; fix") == [
        "says 'without a membership' twice"
    ]
    assert message_problems("Invoice.objects.get() reads tenant-owned {model}; filter by {field}") == [
        "leaves {model} unfilled",
        "leaves {field} unfilled",
    ]
    assert message_problems("Query on a tenant-owned model (message template error: 'x')") == ["has a template error"]
    assert message_problems("json.loads(request.body) becomes the Stripe event; verify it") == []


def _snapshot_messages() -> list[tuple[str, str]]:
    out = []
    for path in sorted(snapshots.SNAPSHOTS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            where, _, rest = line.partition(": ")
            out.append((f"{path.stem}/{where}", rest.partition(" ")[2]))
    return out


def test_no_snapshot_message_repeats_a_phrase_or_leaves_a_placeholder() -> None:
    """Over every finding of every fixture app (the snapshots equal the run: tests/test_fixtures.py)."""
    messages = _snapshot_messages()
    assert len(messages) > 100
    bad = [(where, problems, message) for where, message in messages if (problems := message_problems(message))]
    assert not bad, "\n".join(f"{where}: {problems}: {message}" for where, problems, message in bad)


def test_every_template_variant_renders_without_a_doubled_phrase() -> None:
    """Each variant of each rule's templates, filled with distinct dummy names, reads once."""
    for rule in all_rules().values():
        for name in rule.shapes:
            fields = {f: f"<{f}-{i}>" for i, f in enumerate(rule.fields)}
            for key in _variant_keys(rule, name):
                text = rule.render(fields, shape=name, traits=set(key.split("+")) - {"default"})
                assert not message_problems(text), (rule.code, name, key, text)


def _variant_keys(rule, name: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Every trait combination some template reachable from ``name`` has a variant for."""
    keys = {"default"}
    stack, seen = [name], set()
    while stack:
        current = stack.pop()
        if current in seen or current not in rule.templates:
            continue
        seen.add(current)
        template = rule.templates[current]
        keys |= set(template.variants)
        stack.extend(template.fields())
    return keys


def _findings(root: Path) -> list[Finding]:
    return run(load_project(root), [root], jobs=1, cwd=root).findings


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


# --- the fix fits the framework and the shape at hand -------------------------------------------------

DJANGO_ONLY = (".objects", "request.org_context", "OrgScopedManager", "request.user", "get_object_or_404", "django")

FLASK_MODELS = """\
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class Organization(db.Model):
    id = db.Column(db.Integer, primary_key=True)


class Invoice(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    organization_id = db.Column(db.Integer, db.ForeignKey("organization.id"))
"""
FLASK_VIEWS = """\
from flask import Flask, request

from app.models import Invoice, Organization

app = Flask(__name__)


@app.get("/invoices")
def invoices():
    return [i.id for i in Invoice.query.all()]


@app.get("/org")
def org():
    return Organization.query.get(request.args["org"]).id
"""


def test_a_flask_finding_suggests_the_flask_helpers_never_django(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/models.py": FLASK_MODELS, "app/views.py": FLASK_VIEWS})
    said = {f.code: f.message for f in _findings(project)}
    assert set(said) == {"ORG101", "ORG102"}, said
    for message in said.values():
        assert "orgguard.runtime.flask" in message, message
        assert not [w for w in DJANGO_ONLY if w in message], message
    assert "Invoice.organization_id == current_org.org_id" in said["ORG101"]


SA_MODELS = """\
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Organization(Base):
    __tablename__ = "organization"
    id: Mapped[int] = mapped_column(primary_key=True)


class Invoice(Base):
    __tablename__ = "invoice"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
"""
FASTAPI_ROUTES = """\
from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import get_db
from app.models import Invoice, Organization

app = FastAPI()


@app.get("/invoices")
def invoices(db: Session = Depends(get_db)):
    return db.scalars(select(Invoice)).all()


@app.get("/org")
def org(org_id: int, db: Session = Depends(get_db)):
    return db.get(Organization, org_id)
"""


def test_a_fastapi_finding_suggests_the_activeorg_dependency_never_django(project: Path) -> None:
    files = {
        "app/__init__.py": "",
        "app/models.py": SA_MODELS,
        "app/db.py": "def get_db():\n    yield None\n",
        "app/routes.py": FASTAPI_ROUTES,
    }
    write_tree(project, files)
    said = {f.code: f.message for f in _findings(project)}
    assert set(said) == {"ORG101", "ORG102"}, said
    for message in said.values():
        assert "ActiveOrg" in message and "orgguard.runtime.fastapi" in message, message
        assert not [w for w in DJANGO_ONLY if w in message], message


DJANGO_MODELS = """\
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=10)


class Invoice(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    status = models.CharField(max_length=10)
    batch = models.CharField(max_length=10)
"""
WEBHOOKS = """\
from django.views.decorators.csrf import csrf_exempt

from app.models import Invoice


@csrf_exempt
def github_webhook(request):
    Invoice.objects.filter(status="open").update(status="synced")


@csrf_exempt
def stripe_webhook(request):
    Invoice.objects.filter(status="open").update(status="paid")
"""
JOBS = """\
from celery import shared_task

from app.models import Invoice


@shared_task
def close_open():
    Invoice.objects.filter(status="open").update(status="closed")


@shared_task
def close_batch(batch):
    Invoice.objects.filter(batch=batch).update(status="closed")
"""


def test_a_webhook_gets_the_stripe_helper_only_when_it_handles_stripe(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/models.py": DJANGO_MODELS, "app/webhooks.py": WEBHOOKS})
    said = {f.line: f.message for f in _findings(project) if f.code == "ORG301"}
    assert set(said) == {8, 13}, said
    assert "stripe" not in said[8].lower() and "billable" not in said[8], said[8]
    assert "verify the payload" in said[8]
    assert "orgguard.runtime.stripe.resolve_billable_org" in said[13]


def test_every_tenant_is_said_only_of_a_query_that_picks_no_particular_rows(project: Path) -> None:
    write_tree(project, {"app/__init__.py": "", "app/models.py": DJANGO_MODELS, "app/tasks.py": JOBS})
    said = {f.line: f.message for f in _findings(project) if f.code == "ORG302"}
    assert set(said) == {8, 13}, said
    assert "across every tenant" in said[8]
    assert "not narrowed to the tenant" in said[13] and "every tenant" not in said[13], said[13]


GENERIC_MODELS = (
    SA_MODELS
    + """

class Project(Base):
    __tablename__ = "project"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))


class Note(Base):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
"""
)
GENERIC_REPO = """\
from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import get_db
from app.models import {models}

app = FastAPI()


class Repository:
    def __init__(self, session: Session, model) -> None:
        self.session = session
        self.model = model

    def get(self, item_id):
        return self.session.scalars(select(self.model).filter_by(id=item_id)).one()


@app.get("/first/{{item_id}}")
def first(item_id: int, db: Session = Depends(get_db)):
    return Repository(db, {first}).get(item_id)


@app.get("/second/{{item_id}}")
def second(item_id: int, db: Session = Depends(get_db)):
    return Repository(db, {second}).get(item_id)
"""


def _generic_message(project: Path, first: str, second: str) -> str:
    routes = GENERIC_REPO.format(models=", ".join(sorted({first, second})), first=first, second=second)
    files = {"app/__init__.py": "", "app/models.py": GENERIC_MODELS, "app/db.py": "def get_db():\n    yield None\n"}
    write_tree(project, {**files, "app/routes.py": routes})
    said = [f.message for f in _findings(project) if f.code == "ORG101" and f.line == 17]
    assert len(said) == 1, said
    assert not message_problems(said[0]), said[0]
    return said[0]


def test_a_generic_repository_names_the_tenant_column_its_models_share(project: Path) -> None:
    said = _generic_message(project, "Invoice", "Project")
    assert "tenant-owned self.model with no organization_id predicate" in said, said
    assert "self.model.organization_id == org.org_id" in said, said


def test_a_generic_repository_over_models_with_different_tenant_columns_names_none_of_them(project: Path) -> None:
    said = _generic_message(project, "Invoice", "Note")
    assert "tenant-owned self.model with no tenant predicate" in said, said
    assert "organization_id" not in said and "owner_org_id" not in said, said
    assert "self.model.<its tenant column> == org.org_id" in said, said
