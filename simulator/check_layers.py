#!/usr/bin/env python3
"""Check the emulator's layering (simulator/README.md "Layout").

Usage: check_layers.py SIMULATOR_DIR    check the tree, exit 1 on a violation
       check_layers.py --self-test      prove the checker catches violations

Rules, read from the #include lines of every .c/.h under SIMULATOR_DIR:
  1. Only the folders in EDGE may include <ev.h> or <libserialport.h>: the
     lower libraries build and link without libev and libserialport.
  2. A folder includes headers of its own folder or of a lower layer only
     (LAYERS: lower number = lower layer; folders of one rank do not include
     each other).
  3. No include cycle between folders (follows from 2, checked on its own so
     the message names the cycle), and no cycle between the .c/.h modules of
     one folder either (a module = a .c/.h pair).
Quoted includes that name no header in the tree (proto/, firmware/) are
outside these rules.
"""
import os
import re
import sys
import tempfile

LAYERS = {"store": 0, "mep": 1, "optical": 1, "faults": 2, "io": 3, "app": 4, ".": 5}
EDGE = {"io", "app", "."}
FORBIDDEN = ("ev.h", "libserialport.h")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def scan(root):
    """Return {relpath: [(kind, name, lineno)]} for every .c/.h under root."""
    files = {}
    for d, _, names in os.walk(root):
        for n in sorted(names):
            if not n.endswith((".c", ".h")):
                continue
            path = os.path.join(d, n)
            rel = os.path.relpath(path, root)
            incs = []
            with open(path, encoding="utf-8", errors="replace") as f:
                for i, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m:
                        incs.append((m.group(1), m.group(2), i))
            files[rel] = incs
    return files


def folder_of(rel):
    return os.path.dirname(rel) or "."


def module_of(rel):
    return os.path.splitext(rel)[0]


def find_cycle(graph):
    """A cycle in {node: set(nodes)} as a list of nodes, or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check(root):
    files = scan(root)
    errors = []
    headers = {}
    for rel in files:
        if rel.endswith(".h"):
            name = os.path.basename(rel)
            if name in headers:
                errors.append(f"{rel}: header name also used by {headers[name]}")
            headers[name] = rel
    folders = {}
    modules = {}
    for rel, incs in sorted(files.items()):
        src = folder_of(rel)
        if src not in LAYERS:
            errors.append(f"{rel}: folder '{src}' is not a known layer ({', '.join(sorted(LAYERS))})")
            continue
        for kind, name, line in incs:
            base = os.path.basename(name)
            if base in FORBIDDEN and src not in EDGE:
                errors.append(f"{rel}:{line}: {src}/ may not include <{name}> "
                              f"(only {', '.join(sorted(f + '/' for f in EDGE if f != '.'))} do)")
            if kind != '"' or base not in headers:
                continue
            target = headers[base]
            dst = folder_of(target)
            if dst not in LAYERS:
                continue
            if dst != src:
                folders.setdefault(src, set()).add(dst)
                if LAYERS[dst] >= LAYERS[src]:
                    errors.append(f"{rel}:{line}: {src}/ includes {target}: a folder includes only "
                                  f"its own or lower layers ({src}={LAYERS[src]}, {dst}={LAYERS[dst]})")
            mod, tmod = module_of(rel), module_of(target)
            if mod != tmod:
                modules.setdefault(mod, set()).add(tmod)
    cyc = find_cycle(folders)
    if cyc:
        errors.append("include cycle between folders: " + " -> ".join(cyc))
    cyc = find_cycle(modules)
    if cyc:
        errors.append("include cycle between modules: " + " -> ".join(cyc))
    return errors


def self_test():
    """Build small trees with one violation each; the checker must flag it."""
    cases = {
        "clean": ({"store/sim_a.h": "", "mep/sim_b.h": '#include "sim_a.h"\n',
                   "io/sim_c.c": "#include <ev.h>\n#include \"sim_b.h\"\n"}, None),
        "libev below io": ({"mep/sim_b.c": "#include <ev.h>\n"}, "may not include <ev.h>"),
        "libserialport below io": ({"faults/sim_f.c": "#include <libserialport.h>\n"},
                                   "may not include <libserialport.h>"),
        "upward include": ({"store/sim_a.c": '#include "sim_b.h"\n', "mep/sim_b.h": ""},
                           "includes only its own or lower layers"),
        "folder cycle": ({"mep/sim_b.h": '#include "sim_o.h"\n', "optical/sim_o.h": '#include "sim_b.h"\n'},
                         "include cycle between folders"),
        "module cycle": ({"mep/sim_x.c": '#include "sim_y.h"\n', "mep/sim_y.c": '#include "sim_x.h"\n',
                          "mep/sim_x.h": "", "mep/sim_y.h": ""}, "include cycle between modules"),
    }
    failed = 0
    for name, (tree, want) in cases.items():
        with tempfile.TemporaryDirectory() as d:
            for rel, text in tree.items():
                os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(d, rel), "w") as f:
                    f.write(text)
            errs = check(d)
        ok = (not errs) if want is None else any(want in e for e in errs)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {errs or 'no findings'}")
        failed += not ok
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        print("check_layers.py: give the simulator directory or --self-test", file=sys.stderr)
        return 2
    errors = check(argv[1])
    for e in errors:
        print(e)
    if errors:
        print(f"check_layers: {len(errors)} layering violation(s)", file=sys.stderr)
        return 1
    print("check_layers: layering holds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
