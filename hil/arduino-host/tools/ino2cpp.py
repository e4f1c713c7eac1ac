#!/usr/bin/env python3
"""ino2cpp: the Arduino sketch preprocessing step (Arduino CLI documentation, "Sketch build
process"): all .ino files of the sketch folder become one C++ file, the main one (named after
the folder) first and the others in alphabetical order; `#include <Arduino.h>` is prepended;
a prototype is generated for every function defined in the .ino files that has no declaration
at file scope yet, and the prototypes are inserted just before the first function definition.
`#line` directives keep compiler messages pointing at the .ino files.

Functions with default arguments, templates and member functions (a::b) get no prototype, as
with the Arduino tools. A prototype inside #if/#ifdef blocks is wrapped in the same
conditions, so board-specific functions stay board-specific.

usage: ino2cpp.py SKETCH_DIR OUT_CPP
"""
import os
import re
import sys

KEYWORDS = {"if", "else", "while", "for", "switch", "do", "return", "class", "struct", "union",
            "enum", "namespace", "typedef", "using", "template", "operator", "sizeof", "new",
            "delete", "catch", "try"}


def strip(text):
    """Comments and string/char literals become spaces; newlines are kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * max(0, j - i - 2) + (c if j - i >= 2 else ""))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_params_have_default(params):
    depth = 0
    for ch in params:
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            return True
    return False


def scan(clean):
    """Yields (kind, start, end, text, cond) for file-scope items: 'func' headers (text up to
    the '{'), 'decl' statements ending in ';'. cond is the preprocessor condition stack."""
    lines = clean.split("\n")
    items = []
    depth = 0
    cond = []          # list of levels; each a list of directive lines
    cond_at = []       # offset where each open level's #if starts
    stmt_start = None  # offset of the current file-scope statement
    stmt_cond = None
    offset = 0
    for line in lines:
        stripped = line.strip()
        if depth == 0 and stripped.startswith("#"):
            d = re.match(r"#\s*(\w+)", stripped)
            word = d.group(1) if d else ""
            if word in ("if", "ifdef", "ifndef"):
                cond.append([stripped])
                cond_at.append(offset)
            elif word in ("elif", "else") and cond:
                cond[-1].append(stripped)
            elif word == "endif" and cond:
                cond.pop()
                cond_at.pop()
            offset += len(line) + 1
            stmt_start = None
            continue
        for k, ch in enumerate(line):
            pos = offset + k
            if depth == 0 and stmt_start is None and not ch.isspace():
                stmt_start = pos
                stmt_cond = [list(level) for level in cond]
                stmt_outer = cond_at[0] if cond_at else pos
            if ch == "{":
                if depth == 0 and stmt_start is not None:
                    items.append(("func", stmt_start, pos, clean[stmt_start:pos], stmt_cond, stmt_outer))
                depth += 1
            elif ch == "}":
                depth = max(0, depth - 1)
                if depth == 0:
                    stmt_start = None
            elif ch == ";" and depth == 0:
                if stmt_start is not None:
                    items.append(("decl", stmt_start, pos, clean[stmt_start:pos], stmt_cond, None))
                stmt_start = None
        offset += len(line) + 1
    return items


HEADER = re.compile(r"^(?P<ret>[\w\s\*&:<>,]*?[\w\*&>])\s*\b(?P<name>[A-Za-z_]\w*)\s*\((?P<params>.*)\)\s*(?P<cv>const)?\s*$",
                    re.S)


def prototypes(original, clean):
    items = scan(clean)
    declared = set()
    protos = []
    first_func = None
    for kind, start, end, text, cond, outer in items:
        t = " ".join(text.split())
        if kind == "decl":
            m = re.search(r"\b([A-Za-z_]\w*)\s*\(", t)
            if m and "=" not in t.split("(")[0]:
                declared.add(m.group(1))
            continue
        m = HEADER.match(t)
        if not m:
            continue
        ret = m.group("ret").strip()
        name = m.group("name")
        words = set(re.findall(r"[A-Za-z_]\w*", ret))
        if not ret or words & KEYWORDS or "::" in ret.split()[-1] or "=" in t.split("(")[0]:
            continue
        if ret in ("else",) or name in KEYWORDS:
            continue
        if first_func is None:
            first_func = min(start, outer)  # before any #if around the first function
        if name in declared or "template" in t or split_params_have_default(m.group("params")):
            declared.add(name)
            continue
        declared.add(name)
        # the prototype is the original text of the header (comments/strings kept out)
        head = " ".join(original[start:end].split())
        head = re.sub(r"\s*$", "", head)
        protos.append((start, head, cond))
    return first_func, protos


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ino2cpp.py SKETCH_DIR OUT_CPP")
    sketch = os.path.abspath(sys.argv[1])
    out_path = sys.argv[2]
    base = os.path.basename(sketch.rstrip("/"))
    inos = sorted(f for f in os.listdir(sketch) if f.endswith(".ino"))
    main_ino = base + ".ino"
    if main_ino not in inos:
        if len(inos) != 1:
            sys.exit("arduino-host: %s: no %s (the main .ino must be named after its folder)" % (sketch, main_ino))
        main_ino = inos[0]
    inos.remove(main_ino)
    files = [main_ino] + inos

    parts = []   # (path, text)
    for f in files:
        with open(os.path.join(sketch, f), encoding="utf-8", errors="surrogateescape") as fh:
            text = fh.read()
        if not text.endswith("\n"):
            text += "\n"
        parts.append((os.path.join(sketch, f), text))

    whole = "".join(t for _, t in parts)
    clean = strip(whole)
    first_func, protos = prototypes(whole, clean)

    # map an offset of `whole` to (file, line)
    def where(off):
        acc = 0
        for path, text in parts:
            if off < acc + len(text):
                return path, text.count("\n", 0, off - acc) + 1
            acc += len(text)
        return parts[-1][0], parts[-1][1].count("\n") + 1

    out = ["#include <Arduino.h>\n"]
    insert_at = None
    if first_func is not None:
        insert_at = whole.rfind("\n", 0, first_func) + 1  # start of the line of the first function
    acc = 0
    for path, text in parts:
        seg_start = acc
        acc += len(text)
        if insert_at is not None and seg_start <= insert_at < acc:
            before = text[: insert_at - seg_start]
            after = text[insert_at - seg_start:]
            out.append('#line 1 "%s"\n' % path)
            out.append(before)
            for start, head, cond in protos:
                p, ln = where(start)
                for level in cond:
                    out.extend(d + "\n" for d in level)
                out.append('#line %d "%s"\n%s;\n' % (ln, p, head))
                out.extend("#endif\n" for _ in cond)
            out.append('#line %d "%s"\n' % (before.count("\n") + 1, path))
            out.append(after)
        else:
            out.append('#line 1 "%s"\n' % path)
            out.append(text)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write("".join(out))
    # keep the old file (and its timestamp) when nothing changed, so make does not rebuild
    if os.path.exists(out_path) and open(out_path, "rb").read() == open(tmp, "rb").read():
        os.unlink(tmp)
    else:
        os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
