"""The shortcuts of checking one file give what the plain way gives: positions computed for the module-level
statements that hold findings, LibCST's parse without its node validation, blanked definitions, and the
pre-check's per-file tokens."""

from __future__ import annotations

import ast
import dataclasses
import random
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from orgguard.engine import blank, checking, runner, scan, syntax, walk
from orgguard.engine.codec import FACTS, INDEX
from orgguard.engine.context import Report
from orgguard.engine.records import ProjectIndex
from orgguard.engine.runner import load_project, run

from .conftest import FIXTURES, fixture_apps, write_tree


def _sources() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(FIXTURES.rglob("*.py")):
        if path.parent.name == "broken_files":
            continue
        data = path.read_bytes()
        if data.strip():
            out.append((str(path.relative_to(FIXTURES)), data))
    # the same code with other line breaks, a header, no final newline
    sample = (FIXTURES / "django_saas").rglob("views.py")
    for path in sorted(sample)[:1]:
        data = path.read_bytes()
        out += [
            ("crlf", data.replace(b"\n", b"\r\n")),
            ("cr", data.replace(b"\n", b"\r")),
            ("no-final-newline", data.rstrip(b"\n")),
            ("header", b"# a header comment\n\n# another\n" + data),
        ]
    return out


def _sampled_reports(module: cst.Module, name: str) -> list[Report]:
    """Up to 15 nodes of each top-level statement, picked at random (seeded by the source's name), as reports."""
    rng = random.Random(name)
    reports = []
    for top in module.body:
        nodes = list(walk.iter_tree(top))
        for node in rng.sample(nodes, min(15, len(nodes))):
            reports.append(Report("ORG101", node, top, {}, (), top))
    return reports


@pytest.mark.parametrize(("name", "data"), _sources(), ids=[n for n, _ in _sources()])
def test_statement_positions_are_the_whole_module_positions(name: str, data: bytes) -> None:
    module = cst.parse_module(data)
    whole = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    reports = _sampled_reports(module, name)
    found = checking._positions(module, reports, dense=2.0)  # every statement on its own
    assert {r.node: found[r.node] for r in reports} == {r.node: whole[r.node] for r in reports}
    found = checking._positions(module, reports, dense=0.0)  # the whole module at once
    assert {r.node: found[r.node] for r in reports} == {r.node: whole[r.node] for r in reports}


_ODD_LAYOUTS = [
    # a decorator whose expression starts on a later line than its `@` (the scan's first line is the later one)
    ("late-decorator", b"x = 1\n\n\n@(\n    dec\n)\ndef f(pk):\n    return Invoice.objects.get(pk=pk)\n"),
    # two identical definitions, comments and blank lines before each, no final newline
    (
        "twins",
        b"# a\n\ndef f(pk):\n    return Invoice.objects.get(pk=pk)\n\n# b\ndef f(pk):\n    return Invoice.objects.get(pk=pk)",
    ),
    # a module-level statement with findings between definitions, a header
    (
        "between",
        b"# h\n\ndef f(pk):\n    return 1\nrows = Invoice.objects.all()\n@dec\nclass C:\n    x = Invoice.objects.all()\n",
    ),
]


@pytest.mark.parametrize(
    ("name", "data"), [*_sources(), *_ODD_LAYOUTS], ids=[n for n, _ in [*_sources(), *_ODD_LAYOUTS]]
)
def test_anchored_positions_are_the_whole_module_positions(name: str, data: bytes) -> None:
    """Statements placed by the index scan's lines (checked against the text) where LibCST's provider places
    them; and where the scan's lines are wrong for the text, placed by counting."""
    module = cst.parse_module(data)
    whole = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    layout = blank.layout_of(ast.parse(data))
    reports = _sampled_reports(module, name)
    expected = {r.node: whole[r.node] for r in reports}
    for anchors in (
        checking.Anchors.of(data, module, layout),
        checking.Anchors(data.decode(), []),  # none known
        checking.Anchors(data.decode(), [first + 1 for _, _, first, _ in layout.defs]),  # every one wrong
    ):
        found = checking._positions(module, reports, anchors=anchors)
        assert {r.node: found[r.node] for r in reports} == expected
    if layout.defs:  # the anchors are taken where they are right
        anchors = checking.Anchors.of(data, module, layout)
        assert anchors is not None
        defs = [s for s in module.body if isinstance(s, (cst.FunctionDef, cst.ClassDef))]
        code = module.code_for_node(defs[0])
        head = defs[0].decorators[0] if defs[0].decorators else defs[0]  # where its code starts, its comments aside
        line = whole[head].start.line - len(defs[0].leading_lines)
        assert anchors.start(0, defs[0], code) == (None if name == "late-decorator" else line)


@pytest.mark.parametrize(("name", "data"), _sources(), ids=[n for n, _ in _sources()])
def test_spans_give_the_position_providers_positions(name: str, data: bytes) -> None:
    """Every node LibCST's provider places (trivia and expressions too) where it places it, asked for one
    at a time, and all at once; and a statement's position when none of its expressions is asked for."""
    module = cst.parse_module(data)
    whole = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert checking._position_map(module, set(whole)) == dict(whole)
    rng = random.Random(name)
    for node in rng.sample(list(whole), min(40, len(whole))):
        assert checking._position_map(module, {node}) == {node: whole[node]}
    statements = {n for n in whole if isinstance(n, (cst.BaseStatement, cst.BaseSmallStatement, cst.BaseSuite))}
    assert checking._position_map(module, statements) == {n: whole[n] for n in statements}


@pytest.mark.parametrize(("name", "data"), _sources()[:20], ids=[n for n, _ in _sources()[:20]])
def test_unvalidated_parse_builds_the_same_tree(name: str, data: bytes) -> None:
    checked = syntax.parse_module(data, name, None, checked=False, need_module=True)
    assert checked is not None
    assert checked.deep_equals(cst.parse_module(data))
    assert cst.CSTNode.__post_init__ is vars(cst.CSTNode)["__post_init__"]
    with pytest.raises(cst.CSTValidationError):  # validation is back once the parse is over
        cst.Name("not a name")


def test_validation_is_back_after_a_parse_error() -> None:
    with pytest.raises(syntax.ParseFailure):
        syntax.parse_module(b"def f(:\n", "bad.py", None, checked=False, need_module=True)
    with pytest.raises(syntax.ParseFailure):
        syntax.parse_module(b"x = 1 +\n", "bad.py", None, checked=True, need_module=True)
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")


def _findings(root: Path) -> list[tuple[str, int, int, str, str]]:
    project = load_project(root, cache=False, jobs=1)
    result = run(project, [root], jobs=1, cwd=root, file_timeout=None)
    return [(f.path, f.line, f.column, f.code, f.message) for f in result.findings]


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_blanking_changes_no_finding(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blank, "MIN_SIZE", 1 << 40)  # never blank
    plain = _findings(app)
    monkeypatch.setattr(blank, "MIN_SIZE", 0)  # blank every file
    assert _findings(app) == plain


def test_blanked_source_keeps_lines_names_and_what_can_be_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blank, "MIN_SIZE", 0)
    source = (
        b"import os\n"
        b"from billing.models import Invoice as Inv\n"
        b"\n"
        b"@decorator\n"
        b"def quiet(a,\n"
        b"          b):\n"
        b"    return os.path.join(a, b)  # noqa\n"
        b"\n"
        b"class Helper:\n"
        b"    def method(self):\n"
        b"        return 1\n"
        b"\n"
        b"def lookup(pk):\n"
        b"    return Inv.objects.get(pk=pk)\n"
        b"\n"
        b"def quiet(x):\n"  # a reused name: numbered qualified names, never blanked
        b"    return x\n"
    )
    triggers = blank.Triggers(frozenset({"Invoice"}))
    out = blank.blanked(b"# pad\n# pad\n" + source, "app.py", triggers)
    assert out is not None
    lines = out.decode().splitlines()
    assert len(lines) == len((b"# pad\n# pad\n" + source).decode().splitlines())
    assert lines[10] == "class Helper: pass" and lines[11] == "" and lines[12] == ""
    assert "def lookup(pk):" in lines and "    return Inv.objects.get(pk=pk)" in lines  # the alias of Invoice
    assert lines.count("def quiet(a,") == 1 and lines.count("def quiet(x):") == 1  # `quiet` is defined twice


def test_methods_are_blanked_in_a_kept_class_whose_outside_holds_no_trigger() -> None:
    source = (
        b"# pad\n# pad\n"
        b"from billing.models import Invoice, Helper\n"
        b"\n"
        b"class Views(Base):\n"  # 5
        b"    page_size = 10\n"
        b"\n"
        b"    @decorator(\n"  # 8
        b"        x=1)\n"
        b"    def quiet(self, a):\n"
        b"        return Helper(a)\n"  # 11: Helper is imported next to Invoice, it is not Invoice
        b"\n"
        b"    def lookup(self, pk):\n"  # 13
        b"        return Invoice.objects.get(pk=pk)\n"
        b"\n"
        b"    async def rows(self):\n"  # 16
        b"        return self.model.objects.all()\n"  # no alias of this class: `model` is Other's
        b"\n"
        b"    def twice(self): return 1\n"  # 19: a reused name: numbered, never blanked
        b"    def twice(self): return 2\n"
        b"\n"
        b"class Kept(Base):\n"  # 22
        b"    model = Invoice\n"  # the class outside its methods holds a trigger: every method is kept
        b"\n"
        b"    def quiet(self):\n"
        b"        return 1\n"
        b"\n"
        b"class Other(Base):\n"  # 28
        b"    def rows(self):\n"
        b"        return self.model.objects.all()\n"  # `model` is Invoice in this class (the index says)
        b"\n"
        b"    def local(self):\n"  # 32: a class defined inside: its aliases are its own, any class's count
        b"        class Inner(Other):\n"
        b"            pass\n"
        b"        return self.model\n"
    )
    aliases = {"Other": (("model", "Invoice"),)}
    triggers = blank.Triggers(
        frozenset({"Invoice"}), aliases=(("model", "Invoice"),), class_aliases=lambda name: aliases.get(name, ())
    )
    out = blank.blanked(source, "app.py", triggers, blank.layout_of(ast.parse(source)))
    assert out is not None
    lines = out.decode().splitlines()
    assert len(lines) == len(source.decode().splitlines())
    assert lines[7:11] == ["    def quiet(): pass", "", "", ""]  # the decorators went with it, at its column
    assert lines[12:14] == ["    def lookup(self, pk):", "        return Invoice.objects.get(pk=pk)"]
    assert lines[15:17] == ["    async def rows(): pass", ""]
    assert lines[18:20] == ["    def twice(self): return 1", "    def twice(self): return 2"]
    assert lines[24:26] == ["    def quiet(self):", "        return 1"]
    assert lines[28:30] == ["    def rows(self):", "        return self.model.objects.all()"]
    assert lines[31] == "    def local(self):"
    assert lines[4:6] == ["class Views(Base):", "    page_size = 10"]
    # a function the index says calls an unverified resolver keeps its method
    kept = dataclasses.replace(triggers, keep_lines={"app.py": frozenset({10})})
    out = blank.blanked(source, "app.py", kept, blank.layout_of(ast.parse(source)))
    assert out is not None and "    def quiet(self, a):" in out.decode().splitlines()


def test_call_and_attribute_triggers_count_only_in_their_shape() -> None:
    source = (
        b"# pad\n# pad\n"
        b"from db import execute as run_sql\n"  # 3: bound to a call trigger, the name stands for it
        b"from django.contrib import admin\n"
        b"\n"
        b"def named(text, extra):\n"  # 6: `execute` and `admin` as plain names: nothing to report
        b"    execute = text + extra\n"
        b"    return admin.site, execute\n"
        b"\n"
        b"def called(cursor, sql):\n"  # 10
        b"    return cursor.execute (sql)\n"
        b"\n"
        b"def flag(user):\n"  # 13
        b"    return user.admin\n"
        b"\n"
        b"def helper(sql):\n"  # 16
        b"    return run_sql(sql)\n"
    )
    statement_words = [["execute(", "Invoice"], [".admin", "*stripe"]]
    triggers = blank.triggers_for(statement_words, ProjectIndex(root="."))
    assert triggers is not None
    assert triggers.words == {"Invoice"} and triggers.calls == {"execute"} and triggers.attrs == {"admin"}
    out = blank.blanked(source, "app.py", triggers, blank.layout_of(ast.parse(source)))
    assert out is not None
    lines = out.decode().splitlines()
    assert lines[5:8] == ["def named(): pass", "", ""]
    assert lines[9:11] == ["def called(cursor, sql):", "    return cursor.execute (sql)"]
    assert lines[12:14] == ["def flag(user):", "    return user.admin"]
    assert lines[15:17] == ["def helper(sql):", "    return run_sql(sql)"]


def test_resolver_names_count_only_where_a_resolver_is_called(project: Path) -> None:
    write_tree(
        project,
        {
            "app/models.py": "from django.db import models\n\n"
            "class Organization(models.Model):\n    name = models.CharField(max_length=9)\n",
            "app/orgs.py": "from app.models import Organization\n\n"
            "def load_org(org_id):\n    return Organization.objects.get(pk=org_id)\n",
            "app/views.py": "from app.orgs import load_org\n\n"
            "def switch(request):\n    return load_org(request.GET['org'])\n",
            "app/other.py": "def load_org_label(x):\n    return 'load_org' + x\n",
        },
    )
    loaded = load_project(project, cache=False, jobs=1)
    assert loaded.file_tokens.get("app/views.py") == (b"load_org",)
    assert "app/other.py" not in loaded.file_tokens
    assert checking._may_match(loaded, (project / "app/views.py").read_bytes(), "app/views.py")
    assert not checking._may_match(loaded, (project / "app/other.py").read_bytes(), "app/other.py")


# ---------------------------------------------------------------------------------------------------
# a big file checked in parts


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_a_file_checked_in_parts_has_the_findings_of_the_whole(app: Path) -> None:
    loaded = load_project(app, cache=False, jobs=1)
    compared = 0
    for path, sha in sorted(loaded.shas.items()):
        if sha not in loaded.layouts:
            continue
        file = Path(path)
        source = file.read_bytes()
        display = loaded.config.relpath(file)
        whole = checking.check_source(loaded, file, source, display=display, sha=sha)
        for count in (2, 3, 7):
            parts = [
                checking.check_part(loaded, file, source, display=display, noqa=True, sha=sha, part=(n, count))
                for n in range(count)
            ]
            joined = checking.joined_parts(loaded, file, source, parts, display=display, noqa=True)
            assert (joined.findings, joined.suppressed, joined.errors) == (
                whole.findings,
                whole.suppressed,
                whole.errors,
            )
        compared += 1
    assert compared  # the files the index scan took a layout of


def test_a_run_cuts_a_big_file_for_idle_cores(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    views = "".join(
        f"\ndef view_{n}(request, pk):\n    return Invoice.objects.get(pk=pk)\n\n"
        f"def fine_{n}(request, pk):\n    return Invoice.objects.get(pk=pk, organization=request.organization)\n"
        for n in range(40)
    )
    write_tree(
        project,
        {
            "app/models.py": "from django.db import models\n\nclass Organization(models.Model):\n    pass\n\n"
            "class Invoice(models.Model):\n"
            "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n",
            "app/views.py": "from app.models import Invoice\n" + views,
        },
    )
    whole = run(load_project(project, cache=False, jobs=2), [project], jobs=2, cwd=project)
    assert len(whole.findings) == 40 and not whole.errors
    cut: list[int] = []
    check_part = checking.check_part

    def spy(*args: object, **kwargs: object) -> object:
        cut.append(kwargs["part"][1])  # type: ignore[index]
        return check_part(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checking, "check_part", spy)
    for module in (runner, checking):
        monkeypatch.setattr(module, "PART_BYTES", 256)
    for jobs in (1, 2):
        parted = run(load_project(project, cache=False, jobs=jobs), [project], jobs=jobs, cwd=project)
        assert parted.findings == whole.findings and not parted.errors
    assert cut and all(count > 1 for count in cut)  # the in-process run (jobs=1) cut it too, for memory


# ---------------------------------------------------------------------------------------------------
# a big file's index scan shared by the cores


@pytest.mark.parametrize("app", fixture_apps(), ids=lambda p: p.name)
def test_a_file_scanned_in_parts_has_the_facts_of_the_whole(app: Path) -> None:
    loaded = load_project(app, cache=False, jobs=1)
    config, knowledge = loaded.config, loaded.knowledge
    compared = 0
    for path in sorted(loaded.shas):
        data = Path(path).read_bytes()
        rel = config.relpath(Path(path))
        whole = scan.scan_source(data, rel, config, knowledge, layout=True)
        tree = scan.parse_for_parts(data, rel)
        if whole is None or tree is None:
            assert tree is None  # a file with nothing to scan is scanned whole
            continue
        for count in (2, 3, 7):
            joined = scan.joined_facts([scan.scan_part(tree, rel, config, knowledge, (n, count)) for n in range(count)])
            assert FACTS.encode_bare(joined) == FACTS.encode_bare(whole)
            assert joined.layout == whole.layout
        compared += 1
    assert compared


def _scanned_by_workers(project: Path, monkeypatch: pytest.MonkeyPatch, scanner: str, threshold: str) -> list[int]:
    """Loads the project as a fresh process would (the checkers not imported yet), with ``threshold`` at 1 byte,
    and checks that the index and the findings are those of a scan in this process. Returns the ``jobs`` each
    call of ``runner.<scanner>`` was given."""
    alone = load_project(project, cache=False, jobs=1)
    expected = INDEX.encode(alone.index)
    findings = run(alone, [project], jobs=1, cwd=project).findings
    assert findings
    calls: list[int] = []
    scan = getattr(runner, scanner)

    def spy(what: object, jobs: int) -> object:
        calls.append(jobs)
        return scan(what, jobs)

    monkeypatch.setattr(runner, scanner, spy)
    monkeypatch.setattr(runner, "_checks_unprepared", lambda: True)  # as in a fresh process
    monkeypatch.setattr(runner, threshold, 1)
    loaded = load_project(project, cache=False, jobs=2)
    assert INDEX.encode(loaded.index) == expected
    assert run(loaded, [project], jobs=2, cwd=project).findings == findings
    return calls


def test_a_few_files_are_scanned_aside_while_the_checkers_load(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files a commit touched (over ``SCAN_ASIDE`` bytes, fewer than a chunk) are scanned by one worker while
    this process imports the checkers; the index is the one an in-process scan builds, and so are the findings."""
    write_tree(
        project,
        {
            "app/models.py": "from django.db import models\n\nclass Organization(models.Model):\n    pass\n\n"
            "class Invoice(models.Model):\n"
            "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n",
            "app/views.py": "from app.models import Invoice\n\ndef detail(request, pk):\n"
            "    return Invoice.objects.get(pk=pk)\n",
        },
    )
    assert _scanned_by_workers(project, monkeypatch, "_scan_pool", "SCAN_ASIDE") == [1]


def test_a_run_shares_one_big_files_scan(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index of a project of one big file, scanned by two processes, is the index of one scan; so are
    its findings."""
    units = "".join(
        f"\nclass Repo{n}:\n    def get(self, pk):\n        return Invoice.objects.get(pk=pk)\n\n"
        f"def view_{n}(request, pk):\n    return Repo{n}().get(pk)\n\n"
        f"def view_{n}(request, pk):  # reused: numbered\n    return Invoice.objects.get(pk=pk)\n"
        for n in range(30)
    )
    write_tree(
        project,
        {
            "app/views.py": "from django.db import models\n\nclass Organization(models.Model):\n    pass\n\n"
            "class Invoice(models.Model):\n"
            "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n" + units
        },
    )
    assert _scanned_by_workers(project, monkeypatch, "_scan_split", "SCAN_ALONE") == [2]
