"""The two passes speak one vocabulary.

The index pass (stdlib ``ast``, engine/scan.py) and the check pass (LibCST, engine/flow.py and facts.py)
read the same code. Where a checker asks the index about a call, both must agree on which call it is
(its key and position) and on what each argument carries: the function's parameters it derives from,
and whether it is client input (and of which kind). This runs both passes over the same snippets and
demands the same facts, call by call and argument by argument.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from orgguard.config import load_config
from orgguard.engine import walk
from orgguard.engine.context import FileContext, collect_imports
from orgguard.engine.facts import FactsCache
from orgguard.engine.join import index_from_facts
from orgguard.engine.queries import QueryModel
from orgguard.engine.records import DefFacts, Origin
from orgguard.engine.scan import scan_source
from orgguard.knowledge import load_knowledge
from orgguard.registry import all_rules

MODELS = """
from django.db import models

class Organization(models.Model):
    name = models.CharField(max_length=10)

class Membership(models.Model):
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)

class Invoice(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    number = models.CharField(max_length=10)
"""

SERVICES = """
from app.models import Invoice

def load(pk):
    return Invoice.objects.get(pk=pk)

def load_in(org, pk):
    return Invoice.objects.get(organization=org, pk=pk)

def ensure_member(user, org_id):
    pass

class InvoiceService:
    def get(self, pk):
        return load(pk)
"""

# each snippet is the body of app/views.py (after the shared imports)
SNIPPETS = {
    "url parameter": """
def detail(request, pk):
    return load(pk)
""",
    "query string, narrowed by key": """
def search(request):
    number = request.GET["number"]
    return load(number)
""",
    "keyword arguments": """
def detail(request, pk):
    return load_in(org=request.organization, pk=pk)
""",
    "session value": """
def current(request):
    org_id = request.session["org_id"]
    return load_in(org_id, 1)
""",
    "branches join": """
def pick(request, pk):
    if request.GET.get("mine"):
        value = 1
    else:
        value = request.GET["pk"]
    return load(value)
""",
    "a parameter passed on": """
def helper(pk, other):
    x = pk
    return load_in(other, x)
""",
    "a saved serializer's key, and a field the client sent": """
def create(request):
    serializer = InvoiceSerializer(data=request.data)
    serializer.save()
    load(serializer.data["id"])
    load(serializer.data.get("id"))
    load(serializer.data.get("number"))
    return load(serializer.data["number"])
""",
    "attribute and subscript of a parameter": """
def helper(payload):
    return load(payload["id"])

def helper2(obj):
    return load(obj.pk)
""",
    "method on an instance": """
def detail(request, pk):
    service = InvoiceService()
    return service.get(pk)
""",
    "same call twice: keys count occurrences": """
def twice(request, a, b):
    load(a)
    load(b)
    return load(1)
""",
    "nested calls and f-strings": """
def nested(request, pk):
    return load(str(int(pk)))

def fstring(request, pk):
    return load(f"{pk}-x")
""",
    "await and async": """
async def detail(request, pk):
    return await load(pk)
""",
    "comprehension over a parameter": """
def many(request, ids):
    return [load(i) for i in ids]
""",
    "a verified tenant": """
def guarded(request, org_id, pk):
    ensure_member(request.user, org_id)
    return load_in(request.user, pk)
""",
    "rows of a membership read and of a membership written": """
from app.models import Membership

def joined(request, org_id):
    member = Membership.objects.get(user=request.user, organization_id=org_id)
    return load_in(member.organization_id, 1)

def joining(request, org_id):
    member = Membership.objects.create(user=request.user, organization_id=org_id)
    return load_in(member.organization_id, 1)
""",
    "try and with blocks join": """
def tolerant(request, pk):
    try:
        value = int(request.GET["pk"])
    except ValueError:
        value = pk
    with open("x") as handle:
        load(handle)
    return load(value)
""",
    "Flask request proxy": """
from flask import Flask, request

app = Flask(__name__)

@app.route("/invoices/<int:pk>")
def flask_detail(pk):
    load(request.args.get("pk"))
    return load(pk)
""",
    "FastAPI parameters and a trusted dependency": """
from fastapi import APIRouter, Depends

router = APIRouter()

def current_org():
    return None

@router.get("/invoices/{pk}")
def api_detail(pk: int, org=Depends(current_org)):
    return load_in(org, pk)
""",
    "rows a form saved": """
from django import forms

def edit(request, pk):
    form = forms.Form(request.POST)
    rows = form.save(commit=False)
    load([r.pk for r in rows])
    return load(form.cleaned_data["pk"])
""",
    "a row fetched through a query held in a name": """
from app.models import Invoice, Membership

def detail(request, pk):
    qs = Invoice.objects.select_related("organization")
    row = qs.filter(pk=pk).get(number=request.GET["number"])
    load(row.pk)
    if request.GET.get("all"):
        other = Invoice.objects.all()
    else:
        other = request.GET["rows"]
    load(other.get(pk=pk))
    mine = Membership.objects.filter(user=request.user)
    return load(mine.get(organization_id=request.GET["org"]))
""",
    "kwargs of a class-based view": """
from django.views import View

class Detail(View):
    def get(self, request, *args, **kwargs):
        return load(kwargs["pk"])

    def post(self, request, pk):
        return load(self.kwargs["pk"])
""",
}

HEADER = "from app.services import InvoiceService, ensure_member, load, load_in\n"


def _project(tmp_path: Path, views: str) -> Path:
    files = {
        "pyproject.toml": '[tool.orgguard]\ntenant-model = "Organization"\nmembership-model = "Membership"\n',
        "app/__init__.py": "",
        "app/models.py": MODELS,
        "app/services.py": SERVICES,
        "app/views.py": HEADER + textwrap.dedent(views),
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _functions(module: cst.Module) -> Iterator[cst.FunctionDef]:
    for node in walk.iter_tree(module):
        if isinstance(node, cst.FunctionDef):
            yield node


def _ast_summary(origin: Origin, initial: dict[str, str]) -> tuple[frozenset[str], frozenset[str]]:
    """The index pass's origin in the check pass's terms: a parameter the entry point's client fills
    (``initial``: ``"request:URL parameter pk"``) is client input there, a verified one is trusted."""
    if origin.trusted or any(initial.get(p) == "trusted" for p in origin.params):
        return frozenset(), frozenset()
    kinds = {source.partition(":")[0] for source in origin.sources}
    params: set[str] = set()
    for param in origin.params:
        if param not in initial:
            params.add(param)  # the callers say what it is
        elif initial[param].partition(":")[0] in ("request", "session"):
            kinds.add(initial[param].partition(":")[0])
    return frozenset(params), frozenset(kinds)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_both_passes_agree_on_calls_and_what_their_arguments_carry(tmp_path: Path, name: str) -> None:
    root = _project(tmp_path, SNIPPETS[name])
    config = load_config(start=root, known_codes=sorted(all_rules()))
    knowledge = load_knowledge()
    facts = [
        scan_source((root / rel).read_bytes(), rel, config, knowledge)
        for rel in ("app/__init__.py", "app/models.py", "app/services.py", "app/views.py")
    ]
    index = index_from_facts(str(root), config, knowledge, facts)
    views = facts[-1]
    assert views is not None
    by_qualname: dict[str, DefFacts] = {d.qualname: d for d in views.functions}

    source = (root / "app/views.py").read_text(encoding="utf-8")
    wrapper = MetadataWrapper(cst.parse_module(source))
    module = wrapper.module
    positions = wrapper.resolve(PositionProvider)
    ctx = FileContext(
        path=root / "app/views.py",
        relpath="app/views.py",
        module=module,
        config=config,
        index=index,
        knowledge=knowledge,
        rules=all_rules(),
        imports=collect_imports(module),
    )
    queries = QueryModel(ctx)
    cache = FactsCache(ctx, queries)
    compared = 0
    for func in _functions(module):
        qualname = ctx.qualname(func)
        d = by_qualname.get(qualname.removeprefix(views.module + "."))
        assert d is not None, f"the index pass does not know {qualname}"
        facts_of = cache.of(func)
        initial = dict(facts_of.info.initial) if facts_of.info is not None else {}
        flow = facts_of.flow(ctx, queries)
        calls = {key: node for node, key in ((n, facts_of.keys.get(id(n))) for n in walk.iter_tree(func.body)) if key}
        nodes = {key: node for key, node in calls.items() if isinstance(node, cst.Call)}
        statement_of = _statements(func)
        for call in d.calls:
            node = nodes.get(call.key)
            assert node is not None, f"{qualname}: the check pass has no call {call.key}"
            start = positions[node].start
            assert (start.line, start.column) == (call.line, call.col), f"{qualname}: {call.key} is elsewhere"
            for slot, origin in call.args:
                if origin.calls:
                    continue  # carries a project call's result: the join applies the callee's summary later
                arg = _argument(node, slot)
                assert arg is not None, f"{qualname}: {call.key} has no argument {slot}"
                value = flow.value(arg, statement_of[id(node)])
                kinds = frozenset() if value.trusted else frozenset(t.kind for t in value.taints)
                params = frozenset() if value.trusted else value.params
                assert (params, kinds) == _ast_summary(origin, initial), (
                    f"{qualname}: {call.key} argument {slot}: check pass {sorted(params)} {sorted(kinds)}, "
                    f"index pass {origin}"
                )
                compared += 1
    assert compared, "the snippet has no argument both passes describe"


def _statements(func: cst.FunctionDef) -> dict[int, cst.CSTNode]:
    """id(node) -> the innermost statement holding it (what the flow's environments are keyed by)."""
    out: dict[int, cst.CSTNode] = {}

    def visit(node: cst.CSTNode, stmt: cst.CSTNode | None) -> None:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            stmt = node
        if stmt is not None:
            out[id(node)] = stmt
        for child in walk.children(node):
            visit(child, stmt)

    visit(func.body, None)
    return out


def _argument(call: cst.Call, slot: str) -> cst.BaseExpression | None:
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if slot.isdigit():
        index = int(slot)
        return positional[index].value if index < len(positional) else None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == slot:
            return arg.value
    return None
