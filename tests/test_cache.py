"""The cache (.orgguard_cache/): same answers warm and cold, damage is a miss, concurrent runs agree."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from orgguard.engine import cache as cachemod
from orgguard.engine import codec
from orgguard.engine import join as join_module
from orgguard.engine import scan as scan_module
from orgguard.engine.cache import Cache
from orgguard.engine.codec import CodecError
from orgguard.engine.findings import FileResult
from orgguard.engine.runner import load_project, run

from .conftest import FIXTURES, REPO, fixture_apps, run_cli, write_tree

MODELS = (
    "from django.db import models\n\n"
    "class Organization(models.Model):\n    name = models.CharField(max_length=10)\n\n"
    "class Invoice(models.Model):\n"
    "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n"
)
UNSCOPED = "from app.models import {model}\n\ndef detail(request, pk):\n    return {model}.objects.get(pk=pk)\n"


def app(project: Path, n: int = 3) -> Path:
    files = {"app/__init__.py": "", "app/models.py": MODELS}
    files.update({f"app/views{i}.py": UNSCOPED.format(model="Invoice") for i in range(n)})
    return write_tree(project, files)


def check(project: Path, *args: str) -> tuple[int, str, str]:
    proc = run_cli("check", "--format", "json", *args, cwd=project)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def entries(project: Path) -> list[Path]:
    return sorted(
        p for p in (project / ".orgguard_cache").rglob("*") if p.is_file() and p.parent.name != ".orgguard_cache"
    )


def test_warm_run_equals_cold_run_and_uncached_run(project: Path) -> None:
    app(project)
    cold = check(project)
    assert (project / ".orgguard_cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (project / ".orgguard_cache" / "CACHEDIR.TAG").is_file()
    assert entries(project), "a run with the cache leaves entries"
    warm = check(project)
    uncached = check(project, "--no-cache")
    assert cold == warm == uncached
    assert cold[0] == 1 and len(json.loads(cold[1])["findings"]) == 3


def test_no_cache_writes_nothing(project: Path) -> None:
    app(project)
    check(project, "--no-cache")
    assert not (project / ".orgguard_cache").exists()


def test_cache_dir_option_and_an_unwritable_cache_dir(project: Path) -> None:
    app(project)
    reference = check(project, "--no-cache")
    elsewhere = project / "build-cache"
    assert check(project, "--cache-dir", str(elsewhere)) == reference
    assert (elsewhere / ".gitignore").is_file() and not (project / ".orgguard_cache").exists()
    blocker = project / "not-a-dir"
    blocker.write_text("a file where the cache directory should be\n")
    assert check(project, "--cache-dir", str(blocker / "cache")) == reference


def _restamp(payload: bytes, version: int | None = None, name: str | None = None, body: object = None) -> bytes:
    """A stamped record with another version, another record name or another body (same framing)."""
    old_version, old_name, raw = msgspec.msgpack.decode(payload, type=tuple[int, str, msgspec.Raw])
    new_body = raw if body is None else msgspec.Raw(msgspec.msgpack.encode(body))
    return msgspec.msgpack.encode((old_version if version is None else version, name or old_name, new_body))


@pytest.mark.parametrize(
    "damage", ["truncate", "flip", "garbage", "empty", "wrong-record", "wrong-shape", "old-version", "new-version"]
)
def test_a_damaged_entry_is_a_miss_and_is_rebuilt(project: Path, damage: str) -> None:
    app(project)
    reference = check(project, "--no-cache")
    check(project)
    assert {p.parent.name for p in entries(project)} >= {"facts", "index", "index-head", "stat"}
    for entry in entries(project):
        data = entry.read_bytes()
        if damage == "truncate":
            entry.write_bytes(data[: len(data) // 2])
        elif damage == "flip":
            entry.write_bytes(data[:-3] + bytes([data[-3] ^ 0x55]) + data[-2:])
        elif damage == "garbage":
            entry.write_bytes(b"\x00\xff not an entry \x80")
        elif damage == "empty":
            entry.write_bytes(b"")
        else:
            # a well-formed entry (valid checksum, valid stamp framing) holding the wrong thing: refused
            payload = cachemod._unwrap(data)
            assert payload is not None
            if damage == "wrong-record":
                changed = _restamp(bytes(payload), name="index-head" if "index-head" not in str(entry) else "result")
            elif damage == "wrong-shape":
                changed = _restamp(bytes(payload), body=["not", {"the": "record"}, 3])
            else:
                changed = _restamp(
                    bytes(payload), version=codec.SCHEMA_VERSION + (-1 if damage == "old-version" else 1)
                )
            entry.write_bytes(cachemod._wrap(changed))
    assert check(project) == reference
    # the damaged entries were dropped and replaced by good ones: the next run reads them
    for entry in entries(project):
        payload = cachemod._unwrap(entry.read_bytes())
        assert payload is not None, entry
        assert msgspec.msgpack.decode(payload, type=tuple[int, str, msgspec.Raw])[0] == codec.SCHEMA_VERSION
    assert check(project) == reference


def test_a_wrong_entry_cannot_hide_a_finding_because_keys_are_content(project: Path) -> None:
    app(project, n=1)
    clean = UNSCOPED.format(model="Invoice").replace("pk=pk", "pk=pk, organization=request.organization")
    (project / "app/views0.py").write_text(clean)
    assert check(project)[0] == 0
    (project / "app/views0.py").write_text(UNSCOPED.format(model="Invoice"))
    code, out, _ = check(project)
    assert code == 1 and [f["path"] for f in json.loads(out)["findings"]] == ["app/views0.py"]


def test_project_facts_in_another_file_invalidate_results_of_unchanged_files(project: Path) -> None:
    """The index digest is part of every key: a new tenant-owned model changes findings elsewhere."""
    write_tree(
        project,
        {
            "app/__init__.py": "",
            "app/models.py": MODELS + "\nclass Note(models.Model):\n    text = models.TextField()\n",
            "app/views.py": UNSCOPED.format(model="Note"),
        },
    )
    assert check(project)[0] == 0
    models = (project / "app/models.py").read_text()
    (project / "app/models.py").write_text(
        models.replace(
            "    text = models.TextField()\n",
            "    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)\n",
        )
    )
    code, out, _ = check(project)
    assert code == 1 and [(f["path"], f["code"]) for f in json.loads(out)["findings"]] == [("app/views.py", "ORG101")]
    # and a change that alters no project facts keeps the index: results stay valid, no rebuild needed
    (project / "app/models.py").write_text((project / "app/models.py").read_text() + "\n# a comment\n")
    assert check(project) == (code, out, "")


def test_settings_and_selection_are_part_of_the_key(project: Path) -> None:
    app(project, n=1)
    assert check(project)[0] == 1
    assert check(project, "--ignore", "ORG101")[0] == 0
    (project / "pyproject.toml").write_text("[project]\nname='x'\nversion='0'\n\n[tool.orgguard]\nignore = ['ORG1']\n")
    assert check(project)[0] == 0


def test_two_concurrent_runs_on_one_tree_agree_with_an_uncached_run(project: Path) -> None:
    app(project, n=30)
    reference = check(project, "--no-cache")
    for _ in range(2):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "orgguard", "check", "--format", "json", "-j", "2"],
                cwd=project,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [(p.returncode, out, err) for p, (out, err) in zip(procs, outs, strict=True)] == [reference] * 3
    assert check(project) == reference
    leftovers = [p for p in (project / ".orgguard_cache").rglob(".tmp-*")]
    assert not leftovers, "temporary files are renamed into place or removed"


@pytest.mark.parametrize("app_dir", fixture_apps(), ids=lambda p: p.name)
def test_cached_index_and_results_equal_fresh_ones_on_every_fixture(app_dir: Path, tmp_path: Path) -> None:
    fresh = load_project(app_dir)
    first = load_project(app_dir, cache=tmp_path / "c")
    again = load_project(app_dir, cache=tmp_path / "c")
    assert fresh.index == first.index == again.index
    assert again.fingerprint == first.fingerprint != ""

    def full(project: object) -> list[tuple[object, ...]]:
        result = run(project, [app_dir], jobs=1, cwd=app_dir)  # type: ignore[arg-type]
        return [dataclasses.astuple(f) for f in [*result.findings, *result.suppressed]] + [
            dataclasses.astuple(e) for e in result.errors
        ]

    assert full(fresh) == full(first) == full(again)


def test_results_round_trip_and_what_is_not_a_result_is_refused() -> None:
    project = load_project(FIXTURES / "services_django")
    result = run(project, [FIXTURES / "services_django"], jobs=1)
    assert any(f.trace for f in result.findings), "a finding reached across functions carries its path"
    file_result = FileResult(list(result.findings), list(result.errors), list(result.suppressed))
    back = codec.RESULT.decode(codec.RESULT.encode(file_result))
    assert back == file_result
    assert [f.trace for f in back.findings] == [f.trace for f in result.findings]
    assert [(f.message, f.end_line, f.suppression) for f in back.findings] == [
        (f.message, f.end_line, f.suppression) for f in result.findings
    ], "fields left out of the comparison (message, end, suppression) round-trip too"
    chunk = [(3, "a" * 64, file_result), (7, "", FileResult())]
    assert codec.RESULTS_CHUNK.decode(codec.RESULTS_CHUNK.encode(chunk)) == chunk
    entry = codec.RunEntry(("a" * 64, "b" * 64), file_result)
    assert codec.RUN.decode(codec.RUN.encode(entry)) == entry
    # equal values encode to equal bytes (sets and dict keys sorted): digests are stable across processes
    head = codec.IndexHead("d", frozenset({"b", "a", "c"}), "i")
    assert codec.INDEX_HEAD.encode(head) == codec.INDEX_HEAD.encode(codec.IndexHead("d", frozenset("cab"), "i"))
    with pytest.raises(CodecError):
        codec.RESULT.decode(codec.INDEX_HEAD.encode(head))  # another record
    with pytest.raises(CodecError):
        codec.RESULT.decode(msgspec.msgpack.encode((codec.SCHEMA_VERSION, "result", {"findings": [{"path": 1}]})))
    with pytest.raises(CodecError):
        codec.RESULT.decode(_restamp(codec.RESULT.encode(file_result), version=codec.SCHEMA_VERSION - 1))
    for junk in (b"", b"\x00\xff", b"not msgpack", codec.RESULT.encode(file_result)[:-5]):
        with pytest.raises(CodecError):
            codec.RESULT.decode(junk)
    with pytest.raises(TypeError):
        codec.RESULT.encode(object())  # type: ignore[arg-type]


def test_cache_entries_of_every_kind_round_trip(tmp_path: Path) -> None:
    stat = codec.FileStat(10, 1_700_000_000_000_000_001, 1_700_000_000_000_000_002, 42, 7, "c" * 64)
    loaded = load_project(tmp_path)
    facts = scan_module.scan_source(b"class A:\n    pass\n", "a.py", loaded.config, loaded.knowledge)
    pack = codec.FactsPack("h", {"a.py\0" + "c" * 64: msgspec.Raw(codec.FACTS.encode_bare(facts))})
    records: list[tuple[codec.Codec, object]] = [  # type: ignore[type-arg]
        (codec.STAT_TABLE, codec.StatTable({"/p/a.py": stat})),
        (codec.FACTS_PACK, pack),
        (codec.FACTS, facts),
        (codec.FACTS, None),
        (codec.FACTS_CHUNK, [facts, None]),
        (codec.INDEX_HEAD, codec.IndexHead("d", frozenset({"x"}), "k")),
    ]
    for which, value in records:
        data = which.encode(value)
        assert which.decode(data) == value, which.name
        assert which.decode_bare(which.encode_bare(value)) == value, which.name
        others = [c for c, _ in records if c.name != which.name]
        for other in others:
            with pytest.raises(CodecError):
                other.decode(data)
    (back,) = codec.FACTS_PACK.decode(codec.FACTS_PACK.encode(pack)).files.values()
    assert codec.FACTS.decode_bare(back) == facts
    assert codec.FACTS_PARSED.decode_bare(bytes(back)) == codec.ParsedFlag(True)


def test_store_rejects_damage_and_prunes_old_generations(tmp_path: Path) -> None:
    store = Cache(tmp_path / "c")
    result = FileResult()
    store.write("results/a", "k" * 64, codec.RESULT.encode(result))
    assert store.read("results/a", "k" * 64, codec.RESULT) == result
    assert store.read("results/a", "k" * 64, codec.INDEX_HEAD) is None, "another record is a miss"
    assert not list((tmp_path / "c").rglob("k" * 64)), "and is removed"
    store.write("results/a", "k" * 64, codec.RESULT.encode(result))
    (path,) = [p for p in (tmp_path / "c").rglob("k" * 64)]
    path.write_bytes(path.read_bytes()[:-1])
    assert store.read("results/a", "k" * 64, codec.RESULT) is None
    assert not path.exists(), "a damaged entry is removed"
    for i in range(cachemod.KEEP_GENERATIONS + 3):
        store.write(f"results/g{i}", "k" * 64, codec.RESULT.encode(result))
    store.prune("results", keep=["g0"])
    left = sorted(p.name for p in (tmp_path / "c" / f"v{cachemod.FORMAT}" / "results").iterdir())
    assert "g0" in left and len(left) <= cachemod.KEEP_GENERATIONS + 1


def test_code_digest_covers_the_engine_and_the_catalog() -> None:
    digest = cachemod.code_digest()
    assert len(digest) == 24
    assert (REPO / "src/orgguard/engine/runner.py").is_file()


def _result_entries(project: Path) -> list[Path]:
    return [p for p in entries(project) if "results" in p.relative_to(project / ".orgguard_cache").parts]


def test_an_edit_that_changes_no_project_facts_keeps_every_other_result(project: Path) -> None:
    app(project, n=4)
    first = check(project)
    before = set(_result_entries(project))
    assert len(before) == 6  # __init__, models and the four views
    with (project / "app/views0.py").open("a") as handle:
        handle.write("\n# an edit that changes no project facts\n")
    assert check(project) == first
    after = set(_result_entries(project))
    assert before < after and len(after - before) == 1, "only the edited file was checked again"


def test_a_warm_run_never_imports_libcst(project: Path) -> None:
    app(project)
    check(project)
    probe = (
        "import sys\nfrom orgguard.cli import main\ncode = main(['check', '-q', '.'])\n"
        "print(code, 'libcst' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, timeout=300)
    assert proc.stdout.splitlines()[-1] == "1 False", proc.stdout + proc.stderr


def test_a_lost_index_entry_is_rebuilt_when_a_file_needs_checking(project: Path) -> None:
    app(project)
    reference = check(project, "--no-cache")
    check(project)
    index_entries = [p for p in entries(project) if p.parent.name == "index"]
    assert index_entries and all(p.parent.parent.joinpath("index-head", p.name).is_file() for p in index_entries)
    for entry in index_entries:
        entry.unlink()  # the head says the project is unchanged; the index itself is gone
    with (project / "app/views1.py").open("a") as handle:
        handle.write("\n# checked again, so the index is needed\n")
    code, out, _ = check(project)
    assert (code, json.loads(out)["findings"]) == (reference[0], json.loads(reference[1])["findings"])


@pytest.mark.parametrize("app_dir", fixture_apps(), ids=lambda p: p.name)
def test_file_facts_round_trip(app_dir: Path) -> None:
    project = load_project(app_dir)
    seen = 0
    for path in sorted(app_dir.rglob("*.py")):
        rel = project.config.relpath(path)
        facts = scan_module.scan_source(path.read_bytes(), rel, project.config, project.knowledge)
        if facts is None:
            continue
        seen += 1
        assert codec.FACTS.decode(codec.FACTS.encode(facts)) == facts
        bare = codec.FACTS.encode_bare(facts)
        assert codec.FACTS.decode_bare(bare) == facts
        assert codec.FACTS_PARSED.decode_bare(bare) == codec.ParsedFlag(facts.parsed)
    assert seen
    for broken in (None, [], ["yes", "a.py"], [True, "a.py", "a", [["C"]]], {"parsed": True}):
        with pytest.raises(CodecError):
            codec.FACTS.decode(msgspec.msgpack.encode((codec.SCHEMA_VERSION, "facts", broken or 0)))
        with pytest.raises(CodecError):
            codec.FACTS.decode_bare(msgspec.msgpack.encode(broken or 0))


def test_a_parallel_index_scan_equals_a_serial_one(project: Path) -> None:
    source = FIXTURES / "django_saas"
    for n in range(12):  # enough files for several scan tasks
        for path in source.rglob("*.py"):
            target = project / f"copy{n}" / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (project / "pyproject.toml").write_text((source / "pyproject.toml").read_text())
    serial = load_project(project, jobs=1)
    parallel = load_project(project, jobs=2)
    assert serial.index == parallel.index
    assert serial.index.tenant_paths, "the copies hold tenant-owned models"


def _index_entries(project: Path) -> list[Path]:
    return [p for p in entries(project) if p.parent.name == "index"]


def test_an_edit_that_changes_no_facts_reuses_the_index_it_built(project: Path) -> None:
    app(project)
    check(project)
    (built,) = _index_entries(project)
    with (project / "app/models.py").open("a") as handle:
        handle.write("\n# a comment: the same classes, fields and functions\n")
    with (project / "app/views2.py").open("a") as handle:
        handle.write("\n# another\n")
    assert check(project) == check(project, "--no-cache")
    assert _index_entries(project) == [built], "no index was built: the facts were what they were"
    # a change of facts builds a new index, with what it changes
    (project / "app/views2.py").write_text(
        UNSCOPED.format(model="Invoice") + "\ndef more(request):\n    return Invoice.objects.all()\n"
    )
    edited = check(project)
    assert edited == check(project, "--no-cache")
    out = edited[1]
    assert len(_index_entries(project)) == 2 and len(json.loads(out)["findings"]) == 4


def test_a_new_function_named_nowhere_extends_the_index_it_built(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Functions appended that nothing calls and that call no project code (the pre-commit "new code"
    case): the previous index is extended with them, and every answer is the uncached one."""
    app(project)
    check(project)
    for n in range(2):
        with (project / f"app/views{n}.py").open("a") as handle:
            handle.write(f"\n\ndef detail_more{n}(request, pk):\n    return Invoice.objects.get(pk=pk)\n")
    extended: list[int] = []
    original = join_module._Join.extend

    def spy(self: Any, index: Any, removed: set[str], added: list[str]) -> Any:
        extended.append(len(added))
        return original(self, index, removed, added)

    monkeypatch.setattr(join_module._Join, "extend", spy)
    got = run(load_project(project, cache=True), [project], cwd=project)
    assert extended == [2]
    assert len(got.findings) == 5, "the new handlers' lookups are reported"
    fresh = codec.INDEX.encode(load_project(project, cache=False).index)
    stored = [cachemod._unwrap(entry.read_bytes()) for entry in _index_entries(project)]
    assert len(stored) == 2 and fresh in stored, "the extended index is the one a join of every file builds"
    assert check(project) == check(project, "--no-cache")


def test_a_deleted_file_is_not_taken_for_an_unchanged_project(project: Path) -> None:
    app(project)
    assert check(project)[0] == 1
    (project / "app/models.py").unlink()  # the tenant-owned model is gone: nothing to report
    assert check(project) == check(project, "--no-cache")
    assert check(project)[0] == 0


@pytest.mark.parametrize("app_dir", fixture_apps(), ids=lambda p: p.name)
def test_the_index_round_trips_and_its_encoding_is_stable(app_dir: Path) -> None:
    index = load_project(app_dir).index
    data = codec.INDEX.encode(index)
    assert codec.INDEX.decode(data) == index
    # another process (another string hash seed) writes the same bytes for the same project
    probe = (
        "import sys\nfrom pathlib import Path\nfrom orgguard.engine.runner import load_project\n"
        "from orgguard.engine.codec import INDEX\n"
        "print(INDEX.encode(load_project(Path(sys.argv[1])).index).hex())\n"
    )
    other = subprocess.run([sys.executable, "-c", probe, str(app_dir)], capture_output=True, text=True, timeout=300)
    assert other.stdout.strip() == data.hex()
    with pytest.raises(CodecError):
        codec.INDEX.decode(msgspec.msgpack.encode((codec.SCHEMA_VERSION, "index", ["root"])))


def test_old_result_generations_are_set_aside_at_once_and_deleted_a_little_at_a_time(tmp_path: Path) -> None:
    store = Cache(tmp_path / "c")
    for i in range(cachemod.KEEP_GENERATIONS + 2):
        for n in range(5):
            store.write(f"results/g{i}", f"{n}" * 64, codec.RESULT.encode(FileResult()))
    folder = tmp_path / "c" / f"v{cachemod.FORMAT}" / "results"

    def files() -> int:
        return sum(1 for p in folder.rglob("*") if p.is_file())

    before = files()
    store.prune("results", keep=[], budget=3)
    live = [p for p in folder.iterdir() if not p.name.startswith(".trash-")]
    assert len(live) == cachemod.KEEP_GENERATIONS, "the oldest generations are out of use at once"
    assert files() == before - 3, "but only the budget was deleted"
    store.prune("results", keep=[], budget=None)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in live)
    assert files() == 5 * cachemod.KEEP_GENERATIONS


@pytest.mark.parametrize("bad", [[], 5, "x", [True], [True, "not rows"], ["yes", [], [], [], [], []]])
def test_wrong_rows_in_a_well_formed_facts_pack_are_rescanned(project: Path, bad: object) -> None:
    app(project)
    reference = check(project, "--no-cache")
    check(project)
    (path,) = [p for p in entries(project) if p.parent.name == "facts"]
    payload = cachemod._unwrap(path.read_bytes())
    assert payload is not None
    pack = codec.FACTS_PACK.decode(payload)
    wrong = codec.FactsPack("no-such-head", {key: msgspec.Raw(msgspec.msgpack.encode(bad)) for key in pack.files})
    path.write_bytes(cachemod._wrap(codec.FACTS_PACK.encode(wrong)))
    for head in [p for p in entries(project) if p.parent.name == "index-head"]:
        head.unlink()  # so the project is scanned again, from the pack
    assert check(project) == reference


@pytest.mark.parametrize("cached", [False, True])
def test_a_project_pickles_for_spawned_workers(project: Path, cached: bool) -> None:
    """Where workers are spawned (macOS, Windows), the project travels by pickle: with or without the cache,
    before or after its index was first used."""
    app(project)
    if cached:
        load_project(project, cache=True)  # the second load reads the index lazily from the cache
    loaded = load_project(project, cache=cached)
    fresh = load_project(project)
    assert pickle.loads(pickle.dumps(loaded)).index == fresh.index
    _ = loaded.index
    assert pickle.loads(pickle.dumps(loaded)).index == fresh.index


def test_spawned_workers_give_the_forked_workers_findings(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orgguard.engine import runner

    app(project, n=12)
    for cached in (False, True):
        expected = run(load_project(project, cache=cached), [project], jobs=1, cwd=project).findings
        # cached: the index comes from the cache (decoded lazily), the results must be computed again
        shutil.rmtree(project / ".orgguard_cache" / f"v{cachemod.FORMAT}" / "results", ignore_errors=True)
        monkeypatch.setattr(runner, "_mp_context", lambda: multiprocessing.get_context("spawn"))
        got = run(load_project(project, cache=cached, jobs=2), [project], jobs=2, cwd=project)
        monkeypatch.undo()
        assert got.findings == expected and not got.errors
        assert len(expected) == 12


# ---------------------------------------------------------------------------------------------------
# warm runs go by stat: the stat table (engine/discover.py, StatKeys)

PROBE = """
import contextlib, io, json, sys
from orgguard.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["check", "--format", "json", "."])
print(json.dumps({"code": code, "out": out.getvalue(), "libcst": "libcst" in sys.modules}))
"""


def probe(project: Path) -> tuple[int, str, bool]:
    """A run in a fresh interpreter: exit code, JSON report, and whether it imported LibCST (checked a file)."""
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=project, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.splitlines()[-1])
    return data["code"], data["out"], data["libcst"]


def stat_table(project: Path) -> dict[str, codec.FileStat]:
    found = [p for p in entries(project) if p.parent.name == "stat"]
    if not found:
        return {}
    (path,) = found
    payload = cachemod._unwrap(path.read_bytes())
    assert payload is not None
    return dict(codec.STAT_TABLE.decode(payload).files)


def warm(project: Path) -> str:
    """Runs until every file's stat vouches for its hash (a file younger than the run's clock is hashed
    again next run: at most one more run, since each run takes longer than a timestamp tick)."""
    out = check(project)[1]
    check(project)
    assert len(stat_table(project)) == len(list(project.rglob("*.py"))), "every project file is in the stat table"
    return out


def opened_sources(project: Path, monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> list[str]:
    """The project's .py files that ``action`` opened (builtins.open, io.open, os.open: every way in)."""
    import builtins
    import io

    seen: list[str] = []
    real = {"builtins": builtins.open, "io": io.open, "os": os.open}

    def spy(kind: str) -> Callable[..., Any]:
        def opener(file: Any, *args: Any, **kwargs: Any) -> Any:
            name = os.fspath(file) if isinstance(file, (str, os.PathLike)) else ""
            if isinstance(name, str) and name.endswith(".py") and name.startswith(str(project)):
                seen.append(name)
            return real[kind](file, *args, **kwargs)

        return opener

    monkeypatch.setattr(builtins, "open", spy("builtins"))
    monkeypatch.setattr(io, "open", spy("io"))
    monkeypatch.setattr(os, "open", spy("os"))
    try:
        action()
    finally:
        monkeypatch.undo()
    return seen


def test_a_warm_run_reads_no_project_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app(project, n=5)
    reference = warm(project)
    got: list[object] = []
    reads = opened_sources(
        project, monkeypatch, lambda: got.append(run(load_project(project, cache=True), [project], cwd=project))
    )
    assert reads == [], "nothing changed: every file's hash comes from its stat"
    (result,) = got
    assert [f.path for f in result.findings] == [f["path"] for f in json.loads(reference)["findings"]]  # type: ignore[attr-defined]
    # the check can fail: a file whose stat changed is read (and only that one)
    with (project / "app/views1.py").open("a") as handle:
        handle.write("# edited\n")
    reads = opened_sources(project, monkeypatch, lambda: run(load_project(project, cache=True), [project], cwd=project))
    assert reads and {Path(r).name for r in reads} == {"views1.py"}


def test_touch_without_change_checks_nothing_again(project: Path) -> None:
    app(project)
    reference = warm(project)
    before = stat_table(project)
    for path in project.rglob("*.py"):
        os.utime(path)  # new mtime (and ctime), same bytes
    code, out, checked = probe(project)
    assert (code, out) == (1, reference)
    assert not checked, "the files were hashed again, their content is known: no checker ran"
    after = stat_table(project)
    assert after.keys() == before.keys() and all(after[k].sha == before[k].sha for k in after)
    assert all(after[k].mtime_ns != before[k].mtime_ns for k in after), "the stat table holds the new stats"


def test_an_edit_with_the_same_size_and_the_old_mtime_is_seen(project: Path) -> None:
    """Tools that put mtimes back (``touch -r``, archives, some editors' safe-write) cannot hide an edit:
    ctime is in the key, and no tool can set it."""
    app(project)
    reference = warm(project)
    target = project / "app/views0.py"
    old = target.stat()
    text = target.read_text()
    target.write_text(text.replace("Invoice", "Invoicx"))  # same size; no tenant-owned model any more
    os.utime(target, ns=(old.st_atime_ns, old.st_mtime_ns))
    now = target.stat()
    assert (now.st_size, now.st_mtime_ns, now.st_ino) == (old.st_size, old.st_mtime_ns, old.st_ino)
    edited = check(project)
    assert edited == check(project, "--no-cache")
    assert len(json.loads(edited[1])["findings"]) == len(json.loads(reference)["findings"]) - 1


def test_a_racily_clean_file_is_not_vouched_for_by_its_stat(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git's racy-clean rule: a file changed in the same timestamp tick as the read of it could change again
    without its stat changing; only a file whose times are before the filesystem's clock, taken before the
    read, goes into the stat table."""
    from orgguard.engine.reading import StatKeys, read_sources

    config = load_project(project).config
    source = write_tree(project, {"a.py": "x = 1\n"}) / "a.py"
    info = source.stat()
    store = Cache(project / ".orgguard_cache")

    def sources_with_clock(clock: int) -> list[Any]:
        keys = StatKeys(store, config.root)
        monkeypatch.setattr(keys, "clock", lambda: clock)
        found = read_sources(config.root, config, keys=keys)
        keys.save(found)
        return found

    (src,) = sources_with_clock(max(info.st_mtime_ns, info.st_ctime_ns))  # the read began in the file's tick
    assert src.loaded and src.stat is None
    assert stat_table(project) == {}, "not vouched for: hashed again next run"
    (src,) = sources_with_clock(max(info.st_mtime_ns, info.st_ctime_ns) + 1)  # a tick later
    assert src.stat is not None and src.stat.sha == src.sha
    assert list(stat_table(project)) == [str(source)]
    (again,) = sources_with_clock(0)  # the stat matches: the file is not read
    assert not again.loaded and again.sha == src.sha
    # a file stamped in the future (clock skew, `touch -d tomorrow`) is never vouched for
    future = time.time_ns() + 3600 * 10**9
    os.utime(source, ns=(future, future))
    (src,) = sources_with_clock(time.time_ns() + 60 * 10**9)
    assert src.loaded and src.stat is None and stat_table(project) == {}


def test_a_restored_cache_in_a_fresh_copy_hashes_the_content_and_gives_the_same_results(project: Path) -> None:
    """A CI cache restored into a fresh checkout: other inodes, ctimes and mtimes, the same content."""
    app(project)
    reference = warm(project)
    old = project.with_name(project.name + "-before")
    project.rename(old)
    project.mkdir()
    for path in sorted(old.rglob("*")):
        target = project / path.relative_to(old)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            shutil.copyfile(path, target)  # new inode, new mtime and ctime (the cache entries too)
    stale = stat_table(project)
    assert all(os.stat(p).st_mtime_ns != stale[p].mtime_ns for p in stale)
    code, out, checked = probe(project)
    assert (code, out) == (1, reference), "the same findings"
    assert not checked, "from the content-keyed results: every file was hashed, none checked again"
    fresh = stat_table(project)
    assert fresh.keys() == stale.keys() and all(fresh[p].sha == stale[p].sha for p in fresh)
    assert all(fresh[p].inode == os.stat(p).st_ino for p in fresh), "the stat table now holds this copy"
