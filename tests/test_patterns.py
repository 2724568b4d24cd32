"""Path patterns mean what they mean in .gitignore (pathspec), pattern by pattern; .gitignore is honoured.

The examples of docs/configuration.md ("Path patterns") are the table below; the CLI and flake8 tests
run the real programs on small projects.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgguard.config import Config, ConfigError, parse_settings
from orgguard.engine.discover import iter_python_files, path_patterns
from orgguard.registry import known_codes

from .conftest import run_cli, write_tree

# (patterns, path, is_dir, matched): read as "these patterns, in this order, match (or not) this path"
CASES = [
    # a slash in the middle anchors at the root; * never crosses a slash
    (["legacy/*.py"], "legacy/x.py", False, True),
    (["legacy/*.py"], "legacy/sub/x.py", False, False),
    (["legacy/*.py"], "app/legacy/x.py", False, False),
    # ** is any number of directories, none included
    (["docs/**/*.py"], "docs/conf.py", False, True),
    (["docs/**/*.py"], "docs/a/b/conf.py", False, True),
    (["docs/**/*.py"], "src/docs/conf.py", False, False),
    (["**/legacy/*.py"], "app/legacy/x.py", False, True),
    (["**/legacy/*.py"], "legacy/x.py", False, True),
    (["**/legacy/*.py"], "legacy/sub/x.py", False, False),
    # a trailing slash names directories only, at any depth, and everything below them
    (["migrations/"], "app/migrations/0001_initial.py", False, True),
    (["migrations/"], "migrations/x.py", False, True),
    (["migrations/"], "app/migrations", True, True),
    (["migrations/"], "app/migrations", False, False),  # a file named `migrations`
    (["migrations/"], "app/migrations.py", False, False),
    # no slash: a file or directory name at any depth
    (["conftest.py"], "a/b/conftest.py", False, True),
    (["test_*.py"], "app/test_views.py", False, True),
    (["test_*.py"], "app/tests/test_api.py", False, True),
    (["test_*.py"], "app/views_test.py", False, False),
    (["build"], "build/lib/x.py", False, True),
    # a leading slash anchors a name at the root
    (["/setup.py"], "setup.py", False, True),
    (["/setup.py"], "app/setup.py", False, False),
    # ! takes back what an earlier pattern matched; the last matching pattern decides
    (["*.py", "!keep.py"], "keep.py", False, False),
    (["*.py", "!keep.py"], "app/keep.py", False, False),
    (["*.py", "!keep.py"], "app/other.py", False, True),
    (["!keep.py", "*.py"], "keep.py", False, True),
    (["migrations/*", "!migrations/keep.py"], "migrations/keep.py", False, False),
    (["migrations/*", "!migrations/keep.py"], "migrations/0001.py", False, True),
    # ...but nothing below a matched directory comes back (git's rule): match the directory's contents
    (["migrations/", "!migrations/keep.py"], "migrations/keep.py", False, True),
    (["migrations/*", "!migrations/keep.py"], "migrations/sub/keep.py", False, True),
    # a !dir/ pattern takes back that directory, not a different one below it that a pattern matched
    (["a/b/", "!a/"], "a/b/x.py", False, True),
    (["a/b/", "!a/"], "a/x.py", False, False),
    # dir/** is everything inside, not the directory itself
    (["a/**"], "a", True, False),
    (["a/**"], "a/b/x.py", False, True),
    (["a/**", "!a/b/"], "a/b/x.py", False, True),
    (["a/**", "!a/x.py"], "a/x.py", False, False),
    (["**"], "a/b/x.py", False, True),
    # character classes and escapes
    (["v[0-9].py"], "v1.py", False, True),
    (["v[0-9].py"], "vx.py", False, False),
    ([r"\!important.py"], "!important.py", False, True),
]


@pytest.mark.parametrize(
    ("patterns", "rel", "is_dir", "matched"),
    CASES,
    ids=[f"{' '.join(p)} {'~' if m else '!~'} {r}{'/' if d else ''}" for p, r, d, m in CASES],
)
def test_pattern(patterns: list[str], rel: str, is_dir: bool, matched: bool) -> None:
    assert path_patterns(tuple(patterns)).matches(rel, is_dir=is_dir) is matched


def _settings(table: dict[str, object], root: Path = Path("/project")) -> Config:
    return parse_settings(table, root=root, source=None, known_codes=known_codes())


def test_exclude_extend_exclude_and_exempt_files_use_the_same_patterns(tmp_path: Path) -> None:
    config = parse_settings(
        {"extend-exclude": ["legacy/*.py", "!migrations/"], "exempt-files": ["docs/**/*.py", "!docs/keep.py"]},
        root=tmp_path,
        source=None,
        known_codes=known_codes(),
    )
    assert config.is_excluded(tmp_path / "legacy/x.py", is_dir=False)
    assert not config.is_excluded(tmp_path / "legacy/sub/x.py", is_dir=False)
    # extend-exclude is read after exclude: `!migrations/` takes the default back
    assert not config.is_excluded(tmp_path / "app/migrations/0001.py", is_dir=False)
    assert config.is_excluded(tmp_path / "app/__pycache__/x.py", is_dir=False)
    assert config.is_exempt_rel("docs/conf.py") and config.is_exempt_rel("docs/a/conf.py")
    assert not config.is_exempt_rel("docs/keep.py")


def test_per_file_ignores_patterns_and_negated_keys(tmp_path: Path) -> None:
    config = parse_settings(
        {"per-file-ignores": {"legacy/*.py": ["ORG101"], "!app/**": ["ORG5"], "docs/**/*.py": ["ORG102"]}},
        root=tmp_path,
        source=None,
        known_codes=known_codes(),
    )
    assert config.ignored_codes_for(tmp_path / "legacy/x.py") == {"ORG101", "ORG5"}
    assert config.ignored_codes_for(tmp_path / "legacy/sub/x.py") == {"ORG5"}
    assert config.ignored_codes_for(tmp_path / "app/views.py") == set()
    assert config.ignored_codes_for(tmp_path / "docs/conf.py") == {"ORG102", "ORG5"}


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"exclude": ["foo\\"]}, ["'exclude'", "foo\\\\", "not a gitignore pattern"]),
        ({"extend-exclude": [""]}, ["'extend-exclude'", "is empty"]),
        ({"exempt-files": ["#tests"]}, ["'exempt-files'", "comment"]),
        ({"exempt-files": ["!"]}, ["'exempt-files'", "not a gitignore pattern"]),
        ({"per-file-ignores": {"!": ["ORG101"]}}, ["'per-file-ignores'", "is empty"]),
        ({"respect-gitignore": "yes"}, ["'respect-gitignore'", "true or false"]),
    ],
)
def test_unusable_patterns_are_config_errors(table: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(table)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


# ---------------------------------------------------------------------------------------------------
# the real command line

MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
UNSCOPED = "from app.models import Invoice\n\ndef detail(request, pk):\n    return Invoice.objects.get(pk=pk)\n"


def _project(root: Path, table: str = "", files: dict[str, str] | None = None) -> Path:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\nversion = '0'\n\n[tool.orgguard]\n{table}")
    return write_tree(root, {"app/__init__.py": "", "app/models.py": MODELS, **(files or {})})


def _reported(root: Path, *args: str) -> list[str]:
    proc = run_cli("check", "--format", "json", *args, cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    return sorted({f["path"] for f in json.loads(proc.stdout)["findings"]})


def test_per_file_ignores_in_the_cli(project: Path) -> None:
    _project(
        project,
        'per-file-ignores = { "legacy/*.py" = ["ORG101"], "docs/**/*.py" = ["ORG101"] }\n',
        {"legacy/x.py": UNSCOPED, "legacy/sub/x.py": UNSCOPED, "docs/conf.py": UNSCOPED, "docs/a/conf.py": UNSCOPED},
    )
    assert _reported(project) == ["legacy/sub/x.py"]


GITIGNORED = {
    ".gitignore": "# generated code\ngenerated/\n*_pb2.py\n",
    "app/.gitignore": "local_*.py\n!local_keep.py\n",
    "app/views.py": UNSCOPED,
    "app/local_views.py": UNSCOPED,
    "app/local_keep.py": UNSCOPED,
    "app/orders_pb2.py": UNSCOPED,
    "generated/api.py": UNSCOPED,
}


def test_gitignored_files_are_not_walked(project: Path) -> None:
    _project(project, "", GITIGNORED)
    assert _reported(project) == ["app/local_keep.py", "app/views.py"]
    assert _reported(project, "app") == ["app/local_keep.py", "app/views.py"]  # the root's .gitignore applies too


def test_a_gitignored_path_named_on_the_command_line_is_checked(project: Path) -> None:
    _project(project, "", GITIGNORED)
    assert _reported(project, "app/local_views.py", "app/orders_pb2.py") == ["app/local_views.py", "app/orders_pb2.py"]
    assert _reported(project, "generated") == ["generated/api.py"]  # a named directory is walked


def test_respect_gitignore_false_walks_everything(project: Path) -> None:
    _project(project, "respect-gitignore = false\n", GITIGNORED)
    assert _reported(project) == [
        "app/local_keep.py",
        "app/local_views.py",
        "app/orders_pb2.py",
        "app/views.py",
        "generated/api.py",
    ]


def test_git_info_exclude_is_honoured(project: Path) -> None:
    _project(project, "", {"app/views.py": UNSCOPED, "app/scratch.py": UNSCOPED, ".git/info/exclude": "scratch.py\n"})
    assert _reported(project) == ["app/views.py"]


def test_a_cached_run_sees_a_gitignore_and_a_setting_change(project: Path) -> None:
    _project(project, "", {"app/views.py": UNSCOPED, "app/extra.py": UNSCOPED})
    assert _reported(project) == ["app/extra.py", "app/views.py"]
    (project / ".gitignore").write_text("extra.py\n")
    assert _reported(project) == ["app/views.py"]
    _project(project, "respect-gitignore = false\n")
    assert _reported(project) == ["app/extra.py", "app/views.py"]
    assert (project / ".orgguard_cache").is_dir()


def test_excluded_paths_stay_excluded_when_named_but_gitignore_does_not(project: Path) -> None:
    _project(project, 'extend-exclude = ["legacy/*.py"]\n', {"legacy/x.py": UNSCOPED, ".gitignore": "legacy/\n"})
    assert _reported(project, "legacy/x.py") == []
    _project(project, "")
    assert _reported(project, "legacy/x.py") == ["legacy/x.py"]


def test_flake8_applies_the_same_per_file_ignores_and_exempt_files(project: Path) -> None:
    _project(
        project,
        'per-file-ignores = { "legacy/*.py" = ["ORG101"] }\nexempt-files = ["docs/**/*.py", "!docs/keep.py"]\n',
        {
            "legacy/x.py": UNSCOPED,
            "legacy/sub/x.py": UNSCOPED,
            "docs/conf.py": UNSCOPED,
            "docs/a/conf.py": UNSCOPED,
            "docs/keep.py": UNSCOPED,
        },
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "ORG", "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    from_flake8 = sorted({line.split(":", 1)[0].removeprefix("./") for line in proc.stdout.splitlines()})
    assert from_flake8 == _reported(project) == ["docs/keep.py", "legacy/sub/x.py"]


# ---------------------------------------------------------------------------------------------------
# git itself as the oracle for .gitignore

TREE = [
    "app/views.py",
    "app/local_settings.py",
    "app/keep_local.py",
    "app/gen/api_pb2.py",
    "app/gen/manual.py",
    "app/sub/deep/x.py",
    "build/lib.py",
    "docs/conf.py",
    "docs/a/conf.py",
    "legacy/x.py",
    "legacy/sub/x.py",
    "migrations/0001.py",
    "migrations/keep.py",
    "scripts/tool.py",
    "src/build/x.py",
    "tmp_1.py",
]
IGNORE_FILES = {
    ".gitignore": "/build/\n*_pb2.py\nlegacy/*.py\ndocs/**/conf.py\n!docs/conf.py\nmigrations/*\n!migrations/keep.py\n",
    "app/.gitignore": "local_*.py\n*_local.py\n!keep_local.py\nsub/deep/\n",
    "app/gen/.gitignore": "*\n!.gitignore\n!manual.py\n",
    ".git/info/exclude": "tmp_*.py\n",
}


@pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="no git")
def test_the_walk_leaves_out_what_git_ignores(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write_tree(tmp_path, {**dict.fromkeys(TREE, "x = 1\n"), **IGNORE_FILES})
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--", "*.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    config = Config(root=tmp_path.resolve(), exclude=())
    walked = [p.relative_to(tmp_path.resolve()).as_posix() for p in iter_python_files(tmp_path, config)]
    assert sorted(walked) == sorted(listed)
    assert "app/views.py" in walked and "legacy/x.py" not in walked  # the tree does exercise both


GIT_PATTERN = st.sampled_from(
    [
        "*.py",
        "x.py",
        "/x.py",
        "a/",
        "a",
        "/a/",
        "a/*.py",
        "a/**/x.py",
        "**/b/",
        "b/*",
        "!x.py",
        "!a/",
        "!b/keep.py",
        "!*.py",
        "keep.py",
        "a/**",
        "*/x.py",
        "[ab]/x.py",
        "!/keep.py",
        "**/x.py",
        "a/b/",
        "!a/b/",
        "b",
        "/b/keep.py",
        "!**/keep.py",
        "b/**",
        "!b/**",
    ]
)
GIT_FILE = st.sampled_from(["x.py", "keep.py", "a/x.py", "a/keep.py", "a/b/x.py", "b/keep.py", "b/x.py", "c/a/x.py"])


@pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="no git")
@settings(max_examples=80, deadline=None)
@given(
    st.sets(GIT_FILE, min_size=1),
    st.lists(GIT_PATTERN, max_size=5),
    st.lists(GIT_PATTERN, max_size=3),
)
def test_gitignore_agrees_with_git(files: set[str], root_patterns: list[str], nested_patterns: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        write_tree(root, dict.fromkeys(files, "x = 1\n"))
        (root / ".gitignore").write_text("\n".join(root_patterns) + "\n")
        (root / "a").mkdir(exist_ok=True)
        (root / "a" / ".gitignore").write_text("\n".join(nested_patterns) + "\n")
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", "*.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        walked = [p.relative_to(root).as_posix() for p in iter_python_files(root, Config(root=root, exclude=()))]
    assert sorted(walked) == sorted(listed)
