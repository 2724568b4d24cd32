"""Parsing what the project's Python accepts (issue 13): the grammar, lowering, one parse-error form.

A project that requires a newer Python than the one running orgguard keeps every valid file (no ORG000,
its models and functions in the index); a genuinely broken file gets the running Python's message and
position, with a valid end, whatever else is in the run; exempt files are never reported.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from orgguard.config import ConfigError, lowest_python, parse_settings
from orgguard.engine import syntax
from orgguard.engine.findings import parse_error_finding
from orgguard.engine.runner import _config_key
from orgguard.registry import known_codes

from .conftest import run_cli, write_tree

RUNNING = sys.version_info[:2]
OLD_INTERPRETER = pytest.mark.skipif(RUNNING >= (3, 12), reason="this Python parses PEP 695/701 itself")

MODELS_312 = """from django.db import models

type OrgId = int


class Organization(models.Model):
    name = models.CharField(max_length=10)


class Invoice(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    number = models.CharField(max_length=10)

    def label[T](self, default: T) -> str | T:
        return f"{self.__dict__["number"]}" or default
"""
GENERIC_312 = """type Pair[T] = tuple[T, T]


def first[T](items: list[T]) -> T:
    return items[0]


class Box[T]:
    def __init__(self, item: T) -> None:
        self.item = item


def show(d: dict[str, str]) -> str:
    return f"{d["key"]} {f"{d["k"]!r}"}"
"""
VIEWS = "from app.models import Invoice\n\n\ndef detail(request, pk):\n    return Invoice.objects.get(pk=pk)\n"
MODELS = (
    "from django.db import models\n\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
BROKEN = "from app.models import Invoice\n\n\ndef detail(request, pk:\n    return Invoice.objects.get(pk=pk)\n"


def _pyproject(requires: str | None, table: str = "") -> str:
    text = "[project]\nname = 'app'\nversion = '0'\n"
    if requires is not None:
        text += f"requires-python = '{requires}'\n"
    return text + (f"[tool.orgguard]\n{table}\n" if table else "")


def _project(root: Path, files: dict[str, str], requires: str | None = ">=3.12", table: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(_pyproject(requires, table))
    return write_tree(root, {"app/__init__.py": "", **files})


def _check(root: Path, *args: str) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    proc = run_cli("check", "--format", "json", *args, cwd=root)
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    return proc.returncode, doc["findings"], doc["errors"]


def _interpreter_error(source: str) -> SyntaxError:
    try:
        compile(source, "x.py", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return exc
    raise AssertionError("expected a syntax error")


# ---------------------------------------------------------------------------------------------------
# a project on a newer Python than orgguard's


def test_a_312_project_keeps_its_valid_files_and_their_models(tmp_path: Path) -> None:
    root = _project(tmp_path, {"app/models.py": MODELS_312, "app/generic.py": GENERIC_312, "app/views.py": VIEWS})
    code, findings, errors = _check(root, "--no-cache", "app")
    assert not errors
    assert [f for f in findings if f["code"] == "ORG000"] == []
    # Invoice is defined in a file holding PEP 695 and 701 syntax: still a tenant-owned model
    assert [(f["path"], f["line"], f["column"], f["code"]) for f in findings] == [("app/views.py", 5, 12, "ORG101")]
    assert code == 1


def test_the_target_is_the_projects_python_and_the_cache_knows_it(tmp_path: Path) -> None:
    root = _project(tmp_path, {"app/models.py": MODELS_312, "app/views.py": VIEWS}, requires=">=3.10")
    _, findings, _ = _check(root, "app")
    if RUNNING < (3, 12):  # a project that also runs on this Python: its grammar, and PEP 695 is an error
        assert ("app/models.py", "ORG000") in {(f["path"], f["code"]) for f in findings}
    (root / "pyproject.toml").write_text(_pyproject(">=3.12"))
    _, findings, _ = _check(root, "app")  # same cache: the settings digest holds the grammar
    assert [(f["path"], f["code"]) for f in findings] == [("app/views.py", "ORG101")]


def test_target_version_key_overrides_requires_python(tmp_path: Path) -> None:
    root = _project(tmp_path, {"app/generic.py": GENERIC_312}, requires=">=3.10", table='target-version = "py312"')
    code, findings, errors = _check(root, "--no-cache", "app")
    assert (code, findings, errors) == (0, [], [])


# ---------------------------------------------------------------------------------------------------
# one parse-error form


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(BROKEN, id="never-closed"),  # CPython gives end_offset 0 here: a point at the start
        pytest.param("def detail(request, pk):\n    return pk +* 2\n", id="invalid-syntax"),
        pytest.param("def detail(request):\n  x = 1\n    y = 2\n", id="indentation"),
    ],
)
def test_a_broken_file_gets_the_interpreters_message_and_position(tmp_path: Path, source: str) -> None:
    root = _project(tmp_path, {"app/models.py": MODELS, "app/broken.py": source}, requires=">=3.10")
    code, findings, _ = _check(root, "--no-cache", "app")
    [finding] = [f for f in findings if f["path"] == "app/broken.py"]
    exc = _interpreter_error(source)
    assert finding["code"] == "ORG000" and code == 1
    assert finding["message"] == f"cannot parse: {exc.msg}"
    assert (finding["line"], finding["column"]) == (exc.lineno, exc.offset)
    start, end = (finding["line"], finding["column"]), (finding["end_line"], finding["end_column"])
    assert end >= start and 0 not in end
    if exc.end_lineno and exc.end_offset and (exc.end_lineno, exc.end_offset) >= start:
        assert end == (exc.end_lineno, exc.end_offset)
    else:
        assert end == start


def test_the_message_is_the_same_whatever_else_is_in_the_run(tmp_path: Path) -> None:
    """The same broken file: alone in its project, beside models it names, checked alone, ORG000 only."""
    alone = _project(tmp_path / "alone", {"app/broken.py": BROKEN}, requires=None)
    full = _project(tmp_path / "full", {"app/models.py": MODELS, "app/views.py": VIEWS, "app/broken.py": BROKEN})
    seen = set()
    for root, args in [
        (alone, ["app"]),
        (full, ["app"]),
        (full, ["app/broken.py"]),
        (full, ["--select", "ORG000", "app"]),
    ]:
        _, findings, _ = _check(root, "--no-cache", *args)
        seen |= {
            (f["line"], f["column"], f["end_line"], f["end_column"], f["message"])
            for f in findings
            if f["code"] == "ORG000"
        }
    exc = _interpreter_error(BROKEN)
    assert seen == {(exc.lineno, exc.offset, exc.lineno, exc.offset, f"cannot parse: {exc.msg}")}


def test_every_org000_has_a_valid_end() -> None:
    """Parse errors without an end, timeouts and size-limit findings: a point at the start, never 0."""
    point = parse_error_finding("x.py", 3, 5, {"seconds": "1"}, shape="timeout")
    assert (point.line, point.column, point.end_line, point.end_column) == (3, 5, 3, 5)
    clamped = parse_error_finding("x.py", 0, 0, {"detail": "x"}, end=(2, 0))
    assert (clamped.line, clamped.column, clamped.end_line, clamped.end_column) == (1, 1, 2, 1)
    no_end = syntax.error_of(SyntaxError("'(' was never closed", ("x.py", 4, 11, "x = (\n", 4, 0)))
    assert (no_end.line, no_end.column, no_end.end_line, no_end.end_column) == (4, 11, 4, 11)


def test_parse_errors_in_exempt_files_are_not_reported(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {"app/models.py": MODELS, "tests/test_views.py": BROKEN, "app/seed_data.py": "def seed(:\n"},
        requires=">=3.10",
    )
    code, findings, errors = _check(root, "--no-cache", ".")
    assert (code, findings, errors) == (0, [], [])
    code, findings, errors = _check(root, "--no-cache", "tests/test_views.py")  # given explicitly too
    assert (code, findings, errors) == (0, [], [])


# ---------------------------------------------------------------------------------------------------
# what LibCST's native parser must never see


def _newer_syntax() -> str:
    """A line this interpreter refuses and the project's (newest) grammar accepts."""
    return "type OrgId = int\n" if RUNNING < (3, 12) else "label = t'{name}'\n"


@pytest.mark.skipif(RUNNING >= (3, 14), reason="this Python parses every syntax orgguard lowers")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("(" * 3000 + "1" + ")" * 3000, "too many nested parentheses"),  # LibCST overflows its stack here
        ("not " * 5000 + "y", "too deeply nested to analyse"),
        ("lambda: " * 5000 + "1", "too deeply nested to analyse"),
        (" and ".join(["a"] * 10_000), "too deeply nested to analyse"),
    ],
    ids=["brackets", "not", "lambda", "and"],
)
def test_deep_nesting_past_newer_syntax_is_refused_before_libcst(tmp_path: Path, body: str, message: str) -> None:
    source = _newer_syntax() + f"\n\ndef f(request):\n    x = {body}\n"
    files = {"app/models.py": MODELS, "app/views.py": VIEWS, "app/deep.py": source}
    root = _project(tmp_path, files, requires=None)  # the newest grammar: past this interpreter's
    code, findings, errors = _check(root, "--no-cache", "app")
    assert not errors and code == 1
    assert ("app/views.py", "ORG101") in {(f["path"], f["code"]) for f in findings}, "the rest of the run completes"
    [deep] = [f for f in findings if f["path"] == "app/deep.py"]
    assert (deep["code"], deep["message"], deep["line"]) == ("ORG000", f"cannot parse: {message}", 5)


# ---------------------------------------------------------------------------------------------------
# the lowering, and the ast tree the index pass gets


LOWERED = {
    "alias": "type Alias = list[int]\ntype Pair[T] = tuple[T, T]\nafter = 1\n",
    "generic_def": "def first[\n    T,\n    U: int = int,\n](items: list[T]) -> T:\n    return items[0]\nafter = 1\n",
    "generic_class": "class Box[T]:\n    def get(self) -> T: ...\nclass Sub[T](Box[T], metaclass=M):\n    pass\n",
    "fstring_quotes": 'd = {"k": 1}\ns = f"{d["k"]} and {d["k"]!r:>{w}}"\nafter = 2\n',
    "fstring_nested": 's = f"{f"{f"{1}"}"}"\n',
    "fstring_multiline": 's = f"{\n    d["k"]  # a comment\n}"\nafter = 3\n',
    "fstring_backslash": "s = f'{\"\\n\".join(a)}'\n",
    "fstring_concat": 's = ("plain {x}"\n     f"{d["k"]}"\n     "tail")\nafter = 4\n',
    "fstring_selfdoc": 't = f"{d["k"]=}"\n',
    "tstring": "s = t'{a!r:>{w}} x'\n",
    "except_unparenthesized": "try:\n    pass\nexcept A, B:\n    pass\n",
}


@pytest.mark.parametrize("name", sorted(LOWERED))
def test_lowering_keeps_every_line_and_parses_here(name: str) -> None:
    import libcst as cst

    source = LOWERED[name]
    lowered = syntax._lower(cst.parse_module(source))
    assert len(lowered.splitlines()) == len(source.splitlines())
    ast.parse(lowered)  # this interpreter's parser takes it
    tree = syntax.parse_ast(source.encode(), "x.py", None)
    last = tree.body[-1]
    assert last.end_lineno == len(source.splitlines())  # the last statement ends on the last line


def _value(source: str, index: int) -> ast.expr:
    statement = syntax.parse_ast(source.encode(), "x.py", None).body[index]
    assert isinstance(statement, ast.Assign)
    return statement.value


@OLD_INTERPRETER
def test_lowered_trees_are_the_ones_python_312_builds() -> None:
    value = _value(LOWERED["fstring_quotes"], 1)
    assert isinstance(value, ast.JoinedStr)
    first, text, last = value.values
    assert isinstance(first, ast.FormattedValue) and ast.unparse(first.value) == "d['k']"
    assert isinstance(text, ast.Constant) and text.value == " and "
    assert isinstance(last, ast.FormattedValue) and last.conversion == ord("r") and last.format_spec is not None
    selfdoc = _value(LOWERED["fstring_selfdoc"], 0)
    assert isinstance(selfdoc, ast.JoinedStr) and ast.literal_eval(selfdoc.values[0]) == 'd["k"]='
    func = syntax.parse_ast(LOWERED["generic_def"].encode(), "x.py", None).body[0]
    assert isinstance(func, ast.FunctionDef) and (func.lineno, func.body[0].lineno) == (1, 5)
    assert ast.unparse(_value(LOWERED["alias"], 1)) == "tuple[T, T]"
    multiline = _value(LOWERED["fstring_multiline"], 0)
    assert isinstance(multiline, ast.JoinedStr)
    assert [v.value.lineno for v in multiline.values if isinstance(v, ast.FormattedValue)] == [2]


FAST = {
    "alias": "type Alias = list[int]\ntype Pair[T: (int, str)] = tuple[T, T]\nafter = 1\n",
    "generic_def": "@decorate\nasync def first[T, U: dict[str, int] = dict](items: list[T]) -> T:\n    return items[0]\n",
    "generic_class": "class Box[T]:\n    def get(self) -> T: ...\nclass Sub[T](Box[T], metaclass=M):\n    pass\n",
    "except_unparenthesized": "try:\n    pass\nexcept A, B:\n    pass\n",
}


def _slow_tree(source: str) -> ast.Module:
    import libcst as cst

    return ast.parse(syntax._lower(cst.parse_module(source)))


def _shape(tree: ast.AST) -> tuple[str, list[int | None]]:
    return ast.dump(tree, include_attributes=False), [getattr(n, "lineno", None) for n in ast.walk(tree)]


@pytest.mark.parametrize("name", sorted(FAST))
def test_one_line_newer_syntax_is_lowered_without_libcst_to_the_same_tree(name: str) -> None:
    source = FAST[name]
    fast = syntax._lowered_lines(source.encode(), "x.py", (3, 14))
    assert fast is not None
    assert _shape(fast) == _shape(_slow_tree(source))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* is 3.11 syntax")
def test_an_unparenthesized_except_star_is_lowered_too() -> None:
    fast = syntax._lowered_lines(b"try:\n    pass\nexcept* C, D:\n    pass\n", "x.py", (3, 14))
    assert fast is not None
    handler = fast.body[0].handlers[0]  # type: ignore[attr-defined]
    assert isinstance(handler.type, ast.Tuple) and [ast.unparse(e) for e in handler.type.elts] == ["C", "D"]


@pytest.mark.parametrize(
    ("source", "statements"),
    [
        # looks like an alias, but sits in a string: no assignment starts on that line, so LibCST decides
        ('doc = """\ntype Alias = int\n"""\ndef f[T](x: T) -> T:\n    return x\n', 2),
        # the brackets do not close on the line: multi-line type parameters are LibCST's
        ("def first[\n    T,\n](items: list[T]) -> T:\n    return items[0]\n", 1),
        # an f-string with the quotes 3.12 allows: nothing here can rewrite it
        ('d = {"k": 1}\ntype A = int\ns = f"{d["k"]}"\n', 3),
    ],
)
def test_what_a_line_rewrite_cannot_prove_is_left_to_libcst(source: str, statements: int) -> None:
    assert syntax._lowered_lines(source.encode(), "x.py", (3, 14)) is None
    tree = syntax.parse_ast(source.encode(), "x.py", None)  # the LibCST path still builds it
    assert len(tree.body) == statements


def test_the_line_rewrite_keeps_to_the_projects_grammar() -> None:
    # `except A, B:` is 3.14 syntax: a 3.12 project's file with it is an error there, not something to lower
    source = "type A = int\ntry:\n    pass\nexcept A, B:\n    pass\n"
    assert syntax._lowered_lines(source.encode(), "x.py", (3, 12)) is None
    # with `as`, the parentheses stay required even in 3.14
    assert syntax._lowered_lines(b"try:\n    pass\nexcept A, B as e:\n    pass\n", "x.py", (3, 14)) is None


def test_an_error_libcst_also_refuses_stays_the_interpreters() -> None:
    source = _newer_syntax() + "def f(:\n    pass\n"
    with pytest.raises(SyntaxError) as caught:
        syntax.parse_ast(source.encode(), "x.py", None)
    assert not isinstance(caught.value, syntax.NotLowered)
    with pytest.raises(syntax.ParseFailure) as failed:
        syntax.parse_module(source.encode(), "x.py", None, checked=False, need_module=True)
    assert failed.value.error == syntax.error_of(_interpreter_error(source))


def test_a_grammar_no_newer_than_the_interpreter_never_asks_libcst() -> None:
    source = "def f(:\n    pass\n"
    with pytest.raises(syntax.ParseFailure) as failed:
        syntax.parse_module(source, "x.py", RUNNING, checked=False, need_module=False)
    assert failed.value.error.message == _interpreter_error(source).msg
    assert syntax.grammar((3, 8)) == RUNNING and syntax.grammar(None) == max(syntax.NEWEST, RUNNING)


# ---------------------------------------------------------------------------------------------------
# settings


@pytest.mark.parametrize(
    ("spec", "floor"),
    [
        (">=3.12", (3, 12)),
        (">=3.10,<4", (3, 10)),
        ("~=3.12.1", (3, 12)),
        ("==3.12.*", (3, 12)),
        (">3.11", (3, 11)),  # 3.11.1 is above 3.11
        (">=3.11,!=3.11.*", (3, 12)),
        (" >= 3.13.0b1 ", (3, 13)),
        ("<4", None),  # no lower bound: nothing said about the grammar
        ("not a specifier", None),
    ],
)
def test_lowest_python_of_requires_python(spec: str, floor: tuple[int, int] | None) -> None:
    assert lowest_python(spec) == floor


def _settings(table: dict[str, Any], requires: str | None = None) -> Any:
    return parse_settings(table, root=Path("."), source=None, known_codes=known_codes(), requires_python=requires)


def test_target_version_setting() -> None:
    assert _settings({}).target_version is None
    assert _settings({}, ">=3.12").target_version == (3, 12)
    assert _settings({"target-version": "py311"}, ">=3.12").target_version == (3, 11)
    with pytest.raises(
        ConfigError, match=r"key 'target-version' must be one of py37 \.\.\. py314, .*'py3.12'; did you mean 'py312'\?"
    ):
        _settings({"target-version": "py3.12"})
    with pytest.raises(ConfigError, match="key 'target-version'"):
        _settings({"target-version": 312})
    with pytest.raises(ConfigError, match="did you mean 'target-version'"):
        _settings({"target-versions": "py312"})
    # the cached index and results are keyed by every setting: the grammar changes the facts
    assert "target_version" in _config_key(_settings({}, ">=3.12"), selection=False)
    assert _config_key(_settings({}, ">=3.12"), selection=False) != _config_key(
        _settings({}, ">=3.10"), selection=False
    )
