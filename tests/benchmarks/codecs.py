"""Encode and decode times of the cache's records on the benchmark tree (label-studio + django).

Usage (from the repository root, after ``tests/benchmarks/bench.py`` has built the tree):

    python tests/benchmarks/codecs.py [--tree /tmp/orgguard-bench/tree] [--repeat 7]

Builds the cache of the tree if it has none (one cached ``orgguard check``), then times, best of
``--repeat``, what a run does with each record as it is stored (checksum included): the facts pack of
every file (decoded to ``FileFacts`` and encoded from them), the project index, and the per-file results.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from orgguard.engine import cache as cachemod
from orgguard.engine import codec

SCRATCH = Path(os.environ.get("ORGGUARD_BENCH_DIR", "/tmp/orgguard-bench"))


def best(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    runs = []
    value = None
    for _ in range(repeat):
        started = time.perf_counter()
        value = action()
        runs.append(time.perf_counter() - started)
    return min(runs) * 1000, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=SCRATCH / "tree")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = args.tree / cachemod.CACHE_DIR / f"v{cachemod.FORMAT}"
    if not (base / "facts").is_dir():
        subprocess.run([sys.executable, "-m", "orgguard", "check", "-q", "."], cwd=args.tree, check=False)
    pack_file = newest(base / "facts")
    pack_raw = pack_file.read_bytes()

    def decode_pack() -> list[Any]:
        pack = codec.FACTS_PACK.decode(payload_of(pack_raw))
        with codec.paused_collector():  # as the runner decodes them
            return [codec.FACTS.decode_bare(raw) for raw in pack.files.values()]

    ms_d, facts = best(decode_pack, args.repeat)
    keys = list(codec.FACTS_PACK.decode(payload_of(pack_raw)).files)

    def encode_pack() -> bytes:
        files = {k: msgspec.Raw(codec.FACTS.encode_bare(f)) for k, f in zip(keys, facts, strict=True)}
        return cachemod._wrap(codec.FACTS_PACK.encode(codec.FactsPack("head", files)))

    ms_e, blob = best(encode_pack, args.repeat)
    print(f"facts ({len(facts)} files): decode {ms_d:.1f} ms, encode {ms_e:.1f} ms, {len(blob) / 1e6:.1f} MB")
    index_file = newest(base / "index")
    index_raw = index_file.read_bytes()
    ms_d, index = best(lambda: codec.INDEX.decode(payload_of(index_raw)), args.repeat)
    ms_e, blob = best(lambda: cachemod._wrap(codec.INDEX.encode(index)), args.repeat)
    print(f"index: decode {ms_d:.1f} ms, encode {ms_e:.1f} ms, {len(blob) / 1e6:.1f} MB")
    raws = [p.read_bytes() for p in sorted(newest(base / "results").glob("*/*"))]
    raws = [r for r in raws if is_result(r)]
    ms_d, results = best(lambda: [codec.RESULT.decode(payload_of(r)) for r in raws], args.repeat)
    ms_e, blobs = best(lambda: [cachemod._wrap(codec.RESULT.encode(r)) for r in results], args.repeat)
    findings = sum(len(r.findings) for r in results)
    size = sum(map(len, blobs)) / 1e6
    print(
        f"results ({len(results)} files, {findings} findings): decode {ms_d:.1f} ms, encode {ms_e:.1f} ms, {size:.2f} MB"
    )
    return 0


def is_result(raw: bytes) -> bool:
    try:
        codec.RESULT.decode(payload_of(raw))
    except codec.CodecError:
        return False
    return True


def newest(folder: Path) -> Path:
    """The newest entry of a kind (a tree checked by several orgguard versions holds one of each)."""
    return max((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)


def payload_of(raw: bytes) -> memoryview:
    data = cachemod._unwrap(raw)
    assert data is not None
    return data


if __name__ == "__main__":
    sys.exit(main())
