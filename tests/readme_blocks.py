"""The README's Python examples as a test: extract the fenced blocks and run each standalone, in a fresh namespace.

Fences: ```python runs; ```python no-run is shown but not run (e.g. training that needs a data set); an
```output fence right after a python block holds exactly what that block prints (compared line by line,
trailing spaces ignored). :data:`RUNNER` is a stand-alone script (run by any Python that has neurodcn) that
executes a JSON list of blocks from its working directory, each in a namespace of its own (as a reader pastes
one block), and exits 1 at the first failure or mismatch. :func:`undefined_names` finds the names a block uses
without defining or importing them.
"""

from __future__ import annotations

import ast
import builtins
import re

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
KINDS = ("python", "python no-run", "output")


def readme_blocks(text: str) -> list[dict]:
    """[{"code", "output" (str or None), "run" (bool), "line"}] for every python fence of ``text``, in order;
    ValueError for a python-like fence of another kind or an output fence that follows no python block."""
    blocks: list[dict] = []
    previous_end, previous_python = -1, False
    for m in FENCE.finditer(text):
        info, body = m.group(1).strip(), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        if info.startswith(("py", "output")) and info not in KINDS:
            raise ValueError(f"README line {line}: fence {info!r} must be one of {list(KINDS)}")
        if info == "output":
            adjacent = previous_python and not text[previous_end : m.start()].strip()
            if not adjacent or blocks[-1]["output"] is not None or not blocks[-1]["run"]:
                raise ValueError(f"README line {line}: an output fence must follow a runnable python block")
            blocks[-1]["output"] = body
        elif info.startswith("python"):
            blocks.append({"code": body, "output": None, "run": info == "python", "line": line})
        previous_end, previous_python = m.end(), info.startswith("python")
    return blocks


def undefined_names(code: str) -> set[str]:
    """Names ``code`` reads that it never binds (assignment, import, def, for, with, comprehension) and that
    are not builtins: what a block needs from outside itself."""
    tree = ast.parse(code)
    bound, used = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return used - bound


RUNNER = r'''
import contextlib, io, json, sys, traceback

blocks = json.load(open(sys.argv[1]))
for block in blocks:
    if not block["run"]:
        continue
    namespace = {"__name__": "__readme__"}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block["code"], f"README.md:{block['line']}", "exec"), namespace)
    except Exception:
        print(f"README block at line {block['line']} failed:\n{block['code']}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    if block["output"] is not None:
        got = [s.rstrip() for s in out.getvalue().rstrip().splitlines()]
        want = [s.rstrip() for s in block["output"].rstrip().splitlines()]
        if got != want:
            print(f"README block at line {block['line']} printed\n" + "\n".join(got)
                  + "\ninstead of\n" + "\n".join(want), file=sys.stderr)
            sys.exit(1)
    sys.stdout.write(out.getvalue())
print(f"ran {sum(b['run'] for b in blocks)} README blocks")
'''
"""Run as ``python runner.py blocks.json`` in the folder the examples may write to."""
