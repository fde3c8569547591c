#!/usr/bin/env python3
"""Checks the code's structure, as CI does: no import circle between the
files of any crate, and no source file over 600 lines (its unit tests, test
files and benchmark programs aside).

A file's imports are the `crate::a::b…` paths it names (in `use` lines or
inline), each resolved to the file that defines the longest known module
prefix; a `pub use` re-export therefore counts as an import of the file it
re-exports from. A circle is a strongly connected set of two or more files.
Prints each circle with the edges that tie it; exits 1 when any is found.

    python3 scripts/check-structure.py
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600
# Benchmark binaries are programs of their own, not the product's source.
LONG_FILES_ALLOWED = ("crates/fsa-bench/",)

PATH = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")
USE_GROUP = re.compile(r"\buse\s+crate::([a-z_][a-z0-9_:]*)::\{([^}]*)\}", re.S)


def modules(src: Path) -> dict[tuple[str, ...], Path]:
    """Module path → file, for every .rs file under a crate's src/."""
    out = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts.pop()
        if parts in (["lib"], ["main"]):
            parts = []
        out[tuple(parts)] = f
    return out


def strip_tests(text: str) -> str:
    """The file without its `#[cfg(test)] mod tests { … }` block."""
    i = text.find("#[cfg(test)]\nmod tests")
    return text if i < 0 else text[:i]


def imports(text: str) -> list[tuple[str, ...]]:
    text = re.sub(r"//[^\n]*", "", strip_tests(text))
    paths = [tuple(m.group(1).split("::")) for m in PATH.finditer(text)]
    for m in USE_GROUP.finditer(text):
        base = tuple(m.group(1).split("::"))
        for item in m.group(2).split(","):
            item = item.strip().split(" as ")[0].strip()
            if item and item != "self" and re.fullmatch(r"[a-z_][a-z0-9_]*", item):
                paths.append(base + (item,))
    return paths


def resolve(path: tuple[str, ...], mods: dict) -> Path | None:
    for n in range(len(path), 0, -1):
        if path[:n] in mods:
            return mods[path[:n]]
    return None


def circles(graph: dict) -> list[list]:
    """Tarjan's strongly connected components of two or more nodes."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    failed = False
    for src in sorted(ROOT.glob("crates/*/src")):
        mods = modules(src)
        graph = {}
        for f in mods.values():
            targets = {resolve(p, mods) for p in imports(f.read_text())}
            graph[f] = {t for t in targets if t is not None and t != f}
        for comp in circles(graph):
            failed = True
            names = [str(f.relative_to(ROOT)) for f in comp]
            print(f"import circle in {src.parent.name}: {', '.join(names)}")
            for a in comp:
                for b in sorted(graph[a] & set(comp)):
                    print(f"  {a.relative_to(ROOT)} -> {b.relative_to(ROOT)}")
        for f in sorted(src.rglob("*.rs")):
            rel = str(f.relative_to(ROOT))
            n = len(strip_tests(f.read_text()).splitlines())
            if n > MAX_LINES and not rel.startswith(LONG_FILES_ALLOWED):
                print(f"{rel}: {n} lines (at most {MAX_LINES} outside tests)")
                failed = True
    if not failed:
        print("structure ok: no import circles; no source file over "
              f"{MAX_LINES} lines")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
