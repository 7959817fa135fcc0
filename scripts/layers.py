#!/usr/bin/env python3
"""Fails when the modules of service/src depend on each other in a cycle.

Builds the file-level import graph of a Rust crate from its source text (no
cargo, no extra packages) and exits 1 if any strongly connected component
holds more than one file; with a layer table (LAYERS below) it also names the
layer of every file and fails on any edge that points to a higher layer.

What is an edge (file A -> file B: A names something B defines):
- `use` declarations: `crate::…`, `super::…`, `self::…`, a child module's
  name (`use book::Book`), or a name another `use` brought into scope.
- paths in code with the same starts: `crate::db::retrying(…)`,
  `super::allocate(…)`, `plan::prepare(…)`, `repo::lock(…)`.
- a child using its parent (`super::X`) is an edge child -> parent; a parent
  declaring `mod child;` is not an edge; using the child's items is.
How a path resolves to a file: walk the module tree as far as the segments
name modules (`crate::a::b::Item` -> a/b.rs or a/b/mod.rs if `b` is a
module, else a.rs or a/mod.rs); then, if the next segment is an item the
module only re-exports (`pub use`, any `use`), follow that re-export to the
file that defines the item. So `crate::posting::Effect` is an edge to the
file that defines `Effect`, not to posting/mod.rs.
Re-exports: `pub use` / `pub(crate) use` of the module's own descendants
(the facade of a mod.rs or lib.rs) is no edge; any other `use` is one.
Importing a module (`use crate::money;`) is no edge by itself; each use of
it in code (`money::zero(…)`) is.
Not seen: method calls (`ledger.feed()`), trait impls spread over files,
macros' expansions. Code under `#[cfg(test)]` (a `mod tests {…}` block or a
`#[cfg(test)] mod x;` file) is skipped unless --tests is given.

Usage: python3 scripts/layers.py [SRC_DIR] [--cycles-only] [--layers] [--edges] [--tests]
  --cycles-only  skip the layer table (useful mid-refactor)
  --layers       print each file's layer
  --edges        print every edge with the paths that make it
  --tests        include #[cfg(test)] code
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

# Layer of each file: the longest matching prefix (relative to SRC_DIR)
# wins. A file may use files of its own layer or lower (cycles are caught
# separately), never a higher one. Keep in step with the README diagram.
LAYERS: dict[str, tuple[int, str]] = {
    # 0 rules: pure types and checks, no database, no Ledger
    "error.rs": (0, "rules"),
    "money.rs": (0, "rules"),
    "time.rs": (0, "rules"),
    "hash.rs": (0, "rules"),
    "validate.rs": (0, "rules"),
    "idempotency.rs": (0, "rules"),
    "page.rs": (0, "rules"),
    "transfer/kind.rs": (0, "rules"),
    "request.rs": (0, "rules"),
    # 1 storage: the database handle, its caches and one repository per aggregate
    "db.rs": (1, "storage"),
    "cache.rs": (1, "storage"),
    "ledger.rs": (1, "storage"),
    "feed/": (1, "storage"),
    "currency.rs": (1, "storage"),
    "entry.rs": (1, "storage"),
    "api_key.rs": (1, "storage"),
    "account/repo.rs": (1, "storage"),
    "hold/repo.rs": (1, "storage"),
    "transfer/repo.rs": (1, "storage"),
    "transfer/list.rs": (1, "storage"),
    # 2 engine: the only code that moves money
    "posting/": (2, "engine"),
    # 3 operations: requests into the engine
    "account/": (3, "operations"),
    "hold/": (3, "operations"),
    "transfer/": (3, "operations"),
    # 4 the audit's problem list, shared by seal and verify
    "report.rs": (4, "report"),
    # 5 sealing, 6 verification (which also audits the seal's journal)
    "seal/": (5, "seal"),
    "verify/": (6, "verify"),
    # the crate root only declares and re-exports
    "lib.rs": (9, "root"),
}

ITEM_RE = re.compile(
    r"\b(?:fn|struct|enum|type|trait|union|mod)\s+([A-Za-z_]\w*)"
    r"|\bconst\s+(?!fn\b)([A-Za-z_]\w*)|(?<!')\bstatic\s+([A-Za-z_]\w*)|\bmacro_rules!\s*([A-Za-z_]\w*)"
)
USE_RE = re.compile(r"(?:\b(pub(?:\s*\([^)]*\))?)\s+)?\buse\s+")
PATH_RE = re.compile(r"(?<![\w:])([A-Za-z_]\w*)((?:\s*::\s*[A-Za-z_]\w*)+)")
KEYWORDS = {"crate", "super", "self"}


def blank(text: str) -> str:
    """Comments, strings and char literals become spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    keep = lambda s: "".join(c if c == "\n" else " " for c in s)  # noqa: E731
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(keep(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep(text[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append(keep(text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(keep(text[i : j + 1]))
            i = j + 1
        elif c == "'" and (m := re.compile(r"'(?:\\.[^']*|[^\\'\n])'").match(text, i)):
            out.append(keep(m.group(0)))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(text: str, i: int) -> int:
    """Index just past the brace closing the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def strip_tests(code: str) -> tuple[str, set[str]]:
    """Blanks `#[cfg(test)]` items; returns the names of test-only `mod x;` files."""
    test_mods: set[str] = set()
    for m in reversed(list(re.finditer(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]", code))):
        rest = code[m.end() :]
        decl = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", rest)
        if decl:
            test_mods.add(decl.group(1))
            continue
        k = m.end()
        semi, brace = code.find(";", k), code.find("{", k)
        end = matching(code, brace) if brace >= 0 and (semi < 0 or brace < semi) else semi + 1
        code = code[: m.start()] + "".join(c if c == "\n" else " " for c in code[m.start() : end]) + code[end:]
    return code, test_mods


def split_top(body: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def use_leaves(tree: str, prefix: list[str]) -> list[tuple[list[str], str | None]]:
    """(path segments, local name) for each leaf of a use tree; name None for `*`."""
    tree = re.sub(r"\s+", " ", tree).strip()
    if tree.startswith("::"):
        tree = tree[2:]
    brace = tree.find("{")
    if brace >= 0 and re.fullmatch(r"[\w\s:]*", tree[:brace]):
        head = [s.strip() for s in tree[:brace].split("::") if s.strip()]
        out = []
        for part in split_top(tree[brace + 1 : tree.rfind("}")]):
            out += use_leaves(part, prefix + head)
        return out
    alias = None
    if " as " in tree:
        tree, alias = (s.strip() for s in tree.split(" as ", 1))
    segs = [s.strip() for s in tree.split("::") if s.strip()]
    if segs == ["*"] or segs[-1:] == ["*"]:
        return [(prefix + segs[:-1], None)]
    if segs == ["self"]:
        return [(prefix, alias or (prefix[-1] if prefix else None))]
    return [(prefix + segs, alias or segs[-1])]


class Module:
    def __init__(self, path: tuple[str, ...], file: Path, rel: str, code: str, test_mods: set[str]):
        self.path, self.file, self.rel, self.code = path, file, rel, code
        self.test_mods = test_mods
        self.children = set(re.findall(r"\bmod\s+(\w+)\s*;", code))
        self.defines = {next(g for g in groups if g) for groups in ITEM_RE.findall(code)}
        # (path segments, local name or None for a glob, line, visibility, start, end)
        self.uses: list[tuple[list[str], str | None, int, str | None, int, int]] = []
        for m in USE_RE.finditer(code):
            end = code.find(";", m.end())
            line = code.count("\n", 0, m.start()) + 1
            for segs, name in use_leaves(code[m.end() : end], []):
                self.uses.append((segs, name, line, m.group(1), m.start(), end))


class Crate:
    def __init__(self, src: Path, tests: bool):
        self.src, self.mods = src, {}
        files = sorted(src.rglob("*.rs"))
        for f in files:
            rel = f.relative_to(src).as_posix()
            parts = rel[:-3].split("/")
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            text = blank(f.read_text())
            code, test_mods = (text, set()) if tests else strip_tests(text)
            self.mods[tuple(parts)] = Module(tuple(parts), f, rel, code, test_mods)
        # drop files no module declares, and test-only files unless --tests
        keep = {()}
        for path in sorted(self.mods, key=len):
            if path in keep:
                m = self.mods[path]
                for c in m.children:
                    if (path + (c,)) in self.mods and (tests or c not in m.test_mods):
                        keep.add(path + (c,))
        self.mods = {p: m for p, m in self.mods.items() if p in keep}

    def start(self, mod: Module, first: str) -> tuple[str, ...] | None | str:
        """Module a path's first segment stands for; 'alias' if a use; None if external."""
        if first == "crate":
            return ()
        if first == "self":
            return mod.path
        if first == "super":
            return mod.path[:-1]
        if first in mod.children and (mod.path + (first,)) in self.mods:
            return mod.path + (first,)
        return "alias" if any(name == first for _, name, *_ in mod.uses) else None

    def resolve(self, mod: Module, segs: list[str], seen=None) -> tuple[str, tuple[str, ...]] | None:
        """('module', path) or ('file', rel) for a path as written in `mod`."""
        seen = seen or set()
        key = (mod.rel, tuple(segs))
        if key in seen or not segs:
            return None
        seen.add(key)
        at = self.start(mod, segs[0])
        if at is None:
            return None
        if at == "alias":
            for use_segs, name, *_ in mod.uses:
                if name == segs[0] and use_segs != segs[:1]:
                    return self.resolve(mod, use_segs + segs[1:], seen)
            return None
        rest = segs[1:]
        while rest and rest[0] == "super":
            at, rest = at[:-1], rest[1:]
        while rest and (at + (rest[0],)) in self.mods and rest[0] in self.mods[at].children:
            at, rest = at + (rest[0],), rest[1:]
        if not rest:
            return ("module", at)
        owner = self.mods[at]
        if rest[0] in owner.defines:
            return ("file", owner.rel)
        for use_segs, name, *_ in owner.uses:
            if name == rest[0]:
                target = self.resolve(owner, use_segs + rest[1:], seen)
                return target if target else ("file", owner.rel)
        return ("file", owner.rel)

    def edges(self):
        """(src rel, dst rel) -> list of (line, path as written)."""
        out: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        for mod in self.mods.values():
            spans = []
            for segs, name, line, vis, s, e in mod.uses:
                spans.append((s, e))
                target = self.resolve(mod, segs)
                if not target or target[0] == "module" and name is not None:
                    continue  # a module import: its uses in code are the edges
                dst = target[1] if target[0] == "file" else self.mods[target[1]].rel
                if vis and target[0] == "file":
                    owner = next(m for m in self.mods.values() if m.rel == dst)
                    if owner.path[: len(mod.path)] == mod.path:
                        continue  # a facade re-exporting its own descendant
                if dst != mod.rel:
                    out[(mod.rel, dst)].append((line, "::".join(segs)))
            code = mod.code
            for s, e in spans:
                code = code[:s] + "".join(c if c == "\n" else " " for c in code[s:e]) + code[e:]
            for m in PATH_RE.finditer(code):
                segs = [m.group(1)] + [s.strip() for s in m.group(2).split("::") if s.strip()]
                if segs[0] not in KEYWORDS and self.start(mod, segs[0]) is None:
                    continue
                target = self.resolve(mod, segs)
                if not target:
                    continue
                dst = target[1] if target[0] == "file" else self.mods[target[1]].rel
                if dst != mod.rel:
                    out[(mod.rel, dst)].append((code.count("\n", 0, m.start()) + 1, "::".join(segs)))
        return out


def sccs(nodes: list[str], adj: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj[v]):
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def layer_of(rel: str) -> tuple[int, str] | None:
    best = max((p for p in LAYERS if rel == p or (p.endswith("/") and rel.startswith(p))), key=len, default=None)
    return LAYERS[best] if best else None


def main(argv: list[str]) -> int:
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    src = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "service" / "src"
    crate = Crate(src, tests="--tests" in flags)
    edges = crate.edges()
    nodes = sorted(m.rel for m in crate.mods.values())
    adj: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        adj[a].add(b)
    if "--edges" in flags:
        for (a, b), why in sorted(edges.items()):
            print(f"{a} -> {b}   ({', '.join(f'{p} @{l}' for l, p in why[:3])})")
    failed = False
    cycles = [c for c in sccs(nodes, adj) if len(c) > 1]
    for n, comp in enumerate(sorted(cycles, key=len, reverse=True), 1):
        failed = True
        print(f"cycle {n} ({len(comp)} files): {comp}")
        for a in comp:
            for b in sorted(adj[a] & set(comp)):
                line, path = edges[(a, b)][0]
                print(f"    {a}:{line} -> {b}   via {path}")
    if "--cycles-only" not in flags:
        for n in nodes:
            layer = layer_of(n)
            if "--layers" in flags:
                print(f"  {layer[0] if layer else '?'} {layer[1] if layer else '(none)':<10} {n}")
            if not layer:
                failed = True
                print(f"no layer: {n} (add it to LAYERS in {Path(__file__).name})")
        for (a, b), why in sorted(edges.items()):
            la, lb = layer_of(a), layer_of(b)
            if la and lb and lb[0] > la[0]:
                failed = True
                line, path = why[0]
                print(f"upward: {a}:{line} ({la[1]}) -> {b} ({lb[1]}) via {path}")
    if failed:
        return 1
    checked = "no cycles" + ("" if "--cycles-only" in flags else ", every edge points down or sideways")
    print(f"layers.py: {len(nodes)} files, {len(edges)} file-to-file edges, {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
