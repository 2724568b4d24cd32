"""An edit that only adds, removes or changes isolated functions extends the previous index instead of
joining every function again: the index must be the one a join of every file builds, whatever the edits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgguard.config import Config, load_config
from orgguard.engine import join
from orgguard.engine.codec import FACTS, INDEX
from orgguard.engine.join import Previous, index_from_facts
from orgguard.engine.records import FileFacts, ProjectIndex
from orgguard.engine.scan import scan_source
from orgguard.knowledge import Knowledge, load_knowledge
from orgguard.registry import known_codes

from .conftest import FIXTURES

APPS = ("services_django", "services_fastapi", "django_saas")

# what an edit appends to a file ({n}: a number unique to the edit; {helper}: a function of that file)
ADDED = {
    "isolated": "\n\ndef _added_{n}(value):\n    return _missing_{n}(value)\n",
    "calls a helper": "\n\ndef _added_{n}(value):\n    return {helper}(value)\n",
    "webhook entry": "\n\ndef stripe_webhook_{n}(request):\n    kind = request.GET.get('kind')\n    return kind\n",
    "request handler": "\n\ndef added_view_{n}(request, pk):\n    return _missing_{n}(pk)\n",
    "tenant lookup": (
        "\n\ndef _added_{n}(org_id):\n    from django.apps import apps\n"
        "    return apps.get_model('x.Organization').objects.get(id=org_id)\n"
    ),
    "decorated": "\n\n@login_required\ndef added_{n}(request):\n    return None\n",
    "a common name": "\n\ndef get(value):\n    return value\n",
    # a call the join cannot resolve, by the name of a method with an optional org (services_fastapi's
    # ArchiveRepository.find_archived), that leaves the org out
    "omits an optional org": "\n\ndef _added_{n}(repo, doc_id):\n    return repo.find_archived(doc_id)\n",
}


class Project:
    """A fixture app's sources in memory, its facts, and the index of its facts."""

    def __init__(self, app: str) -> None:
        root = FIXTURES / app
        self.config: Config = load_config(start=root, explicit=None, known_codes=known_codes())
        self.knowledge: Knowledge = load_knowledge(self.config.extend_rules)
        self.root = root
        self.sources = {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.py"))}
        self.added: dict[str, list[str]] = {}  # file -> the blocks appended to it, last last
        self.facts = self.scan()
        self.index = index_from_facts(str(root), self.config, self.knowledge, self.facts)

    def scan(self) -> list[FileFacts | None]:
        return [scan_source(text.encode(), rel, self.config, self.knowledge) for rel, text in self.sources.items()]

    def helper(self, rel: str) -> str:
        found = re.findall(r"^def ([a-z]\w*)\(", self.sources[rel], flags=re.MULTILINE)
        return found[0] if found else "print"

    def edit(self, kind: str, rel: str, n: int) -> None:
        text = self.sources[rel]
        if kind == "remove":
            if self.added.get(rel):
                block = self.added[rel].pop()
                self.sources[rel] = text.replace(block, "", 1)
            return
        if kind == "retarget":
            if self.added.get(rel):
                block = self.added[rel].pop()
                changed = block.replace("_missing_", "_gone_") if "_missing_" in block else block + "    # noted\n"
                changed = changed.replace(
                    "(value):\n    return value", f"(value):\n    return {self.helper(rel)}(value)"
                )
                self.sources[rel] = text.replace(block, changed, 1)
                self.added[rel].append(changed)
            return
        if kind == "rename class":
            self.sources[rel] = re.sub(r"^class (\w+)", r"class \1Renamed", text, count=1, flags=re.MULTILINE)
            return
        if kind == "insert at the top":
            self.sources[rel] = f"def _top_{n}():\n    return {n}\n\n\n" + text
            return
        block = ADDED[kind].format(n=n, helper=self.helper(rel))
        self.sources[rel] = text + block
        self.added.setdefault(rel, []).append(block)

    def rejoin(self) -> tuple[ProjectIndex, ProjectIndex]:
        """(the index extended from the previous one where it can be, the index joined from every file)."""
        facts = self.scan()
        before = {
            (old or new).path: old  # type: ignore[union-attr]
            for old, new in zip(self.facts, facts, strict=True)
            if FACTS.encode_bare(old) != FACTS.encode_bare(new) and (old or new) is not None
        }
        previous = Previous(self.index, before) if before else None
        got = index_from_facts(str(self.root), self.config, self.knowledge, facts, previous)
        want = index_from_facts(str(self.root), self.config, self.knowledge, facts)
        self.facts, self.index = facts, got
        return got, want


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many joins extended the previous index (the count of added functions, one entry per join)."""
    calls: list[int] = []
    original = join._Join.extend

    def spy(self: object, index: ProjectIndex, removed: set[str], added: list[str]) -> ProjectIndex:
        calls.append(len(added))
        return original(self, index, removed, added)  # type: ignore[arg-type]

    monkeypatch.setattr(join._Join, "extend", spy)
    yield calls


EDITS = st.tuples(
    st.sampled_from([*ADDED, "remove", "retarget", "rename class", "insert at the top"]),
    st.integers(min_value=0, max_value=50),
)


@pytest.mark.parametrize("app", APPS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(EDITS, min_size=1, max_size=5))
def test_an_extended_index_is_the_index_of_every_file(app: str, edits: list[tuple[str, int]]) -> None:
    project = Project(app)
    files = sorted(rel for rel in project.sources if project.sources[rel].strip())
    for step, (kind, pick) in enumerate(edits):
        project.edit(kind, files[pick % len(files)], step)
        got, want = project.rejoin()
        assert INDEX.encode(got) == INDEX.encode(want), (kind, step)


def test_isolated_functions_extend_the_index_and_others_join_again(extended: list[int]) -> None:
    project = Project("services_django")
    views, services = "tracker/views.py", "tracker/services.py"
    for kind, rel, fast in [
        ("isolated", views, True),  # named nowhere, calls nothing of the project
        ("webhook entry", services, True),  # an entry point of its own: its reach is its own
        ("tenant lookup", views, True),
        ("remove", views, True),
        ("retarget", views, True),  # a changed isolated function: removed and added
        ("calls a helper", views, False),  # a caller of project code: the callee's callers change
        ("decorated", services, False),  # a decorator may register or guard it
        ("a common name", views, False),  # `get` is named elsewhere: a reference may now resolve to it
        ("insert at the top", services, False),  # every later function's line moves
    ]:
        before = len(extended)
        project.edit(kind, rel, len(extended) + 100)
        got, want = project.rejoin()
        assert INDEX.encode(got) == INDEX.encode(want), kind
        assert (len(extended) > before) == fast, kind
    # the webhook entry point added without a join of every function: its reach is there
    assert any(q.startswith("tracker.services.stripe_webhook_") for q in project.index.reach)


def test_an_edit_of_no_function_or_of_a_file_that_came_is_joined_again(extended: list[int], tmp_path: Path) -> None:
    project = Project("services_fastapi")
    rel = next(iter(project.sources))
    project.sources[rel] += "\n\nVALUE = 1\n"  # a module variable: a name others may resolve
    got, want = project.rejoin()
    assert INDEX.encode(got) == INDEX.encode(want)
    project.sources["app/added_module.py"] = "def lonely(value):\n    return value\n"
    got, want = _with_new_file(project)
    assert INDEX.encode(got) == INDEX.encode(want)
    assert extended == []


def _with_new_file(project: Project) -> tuple[ProjectIndex, ProjectIndex]:
    """A file came: its facts are not in the previous index (the facts list grows)."""
    facts = project.scan()
    previous = Previous(project.index, {})
    got = index_from_facts(str(project.root), project.config, project.knowledge, facts, previous)
    want = index_from_facts(str(project.root), project.config, project.knowledge, facts)
    return got, want


def test_a_call_that_leaves_an_optional_org_out_is_joined_again(extended: list[int]) -> None:
    """Every call of a method's name counts for the org its callers give (ORG104), resolved or not: an added
    function that calls it without the org changes the method's entry, so the edit is no isolated one."""
    project = Project("services_fastapi")
    qual = "docs_api.optional_org.ArchiveRepository.find_archived"
    assert project.index.functions[qual].given_params == ("organization_id",)
    project.edit("omits an optional org", "docs_api/helpers.py", 1)
    got, want = project.rejoin()
    assert INDEX.encode(got) == INDEX.encode(want)
    assert got.functions[qual].given_params == ()
    assert extended == []
