#!/usr/bin/env python3
"""Finds module circles inside each crate: module A imports (`use crate::…` or `super::…`
paths) module B, and B, directly or through others, imports A.

Usage: scripts/module-cycles.py [CRATE_DIR ...]   (default: every crate of the workspace)
Exit code 1 when a circle is found; each is printed as `a -> b -> a`.

A module is a file's path under src/ (`client/quota`); a file `mod.rs` or `lib.rs` is its
folder's module. An import names the deepest module that exists along its path, and a module
never counts as importing its own ancestors' items (`use super::…` from a child to its parent
module is how a child reaches its parent's private helpers, and `mod` declarations make the
parent depend on the child anyway); imports between siblings and cousins are what form circles.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["core", "macros", "gemini", "sim", "relay", "testkit", "examples"]


def modules(src):
    found = {}
    for folder, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(folder, f), src)[:-3]
            parts = rel.split(os.sep)
            if parts[0] == "bin":
                continue
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            found["/".join(parts)] = os.path.join(folder, f)
    return found


USE = re.compile(r"\b(crate|super)((?:::\w+)+)")


def root_exports(known):
    """Names the crate root re-exports (`pub use a::b::{C, D};`), mapped to their module, so that
    `crate::C` counts as an import of `a/b`."""
    root = known.get("")
    out = {}
    if not root:
        return out
    text = re.sub(r"//[^\n]*", "", open(root, encoding="utf-8").read())
    for path, names in re.findall(r"pub(?:\(crate\))? use ((?:\w+::)*\w+)::\{([^}]*)\}", text):
        for n in names.split(","):
            n = n.strip().split(" as ")[-1].strip()
            if n:
                out[n] = path.split("::")
    for path, n in re.findall(r"pub(?:\(crate\))? use ((?:\w+::)*\w+)::(\w+);", text):
        out[n] = path.split("::")
    return out


def imports(name, path, known, exported):
    text = open(path, encoding="utf-8").read()
    # Drop comments and unit tests: a test module may reach anywhere.
    text = re.sub(r"//[^\n]*", "", text)
    text = re.split(r"#\[cfg\(test\)\]\s*mod \w+ \{", text)[0]
    here = name.split("/") if name else []
    out = set()
    for root, rest in USE.findall(text):
        segs = [s for s in rest.split("::") if s]
        if root == "crate":
            base = []
        else:
            base = here[:-1]
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
        if root == "crate" and segs and segs[0] in exported:
            segs = [p for p in exported[segs[0]] if p not in ("crate", "self")] + segs[1:]
        parts = base + segs
        target = None
        for i in range(len(parts), -1, -1):
            cand = "/".join(parts[:i])
            if cand in known:
                target = cand
                break
        if target is None or target == name:
            continue
        # An ancestor of this module (a parent's items) is not an edge; nor is a descendant.
        if name.startswith(target + "/") or target == "" or target.startswith(name + "/"):
            continue
        out.add(target)
    return out


def cycles(graph):
    found = []
    seen_cycles = set()
    state = {}
    stack = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):] + [nxt]
                key = frozenset(cyc)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    found.append(cyc)
            elif state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)
    return found


def main():
    crates = sys.argv[1:] or CRATES
    bad = 0
    for crate in crates:
        src = os.path.join(ROOT, crate, "src")
        if not os.path.isdir(src):
            continue
        known = modules(src)
        exported = root_exports(known)
        graph = {name: imports(name, path, known, exported) for name, path in known.items()}
        for cyc in cycles(graph):
            bad += 1
            print(f"{crate}: " + " -> ".join(c or "(root)" for c in cyc))
    if bad:
        print(f"{bad} module circle(s)")
        return 1
    print("no module circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
