"""Run every benchmark in this folder one after the other; each writes its own section of RESULTS.md."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    sys.path.insert(0, str(ROOT.parent))
    for path in sorted(ROOT.glob("bench_*.py")):
        print(f"== {path.stem}", flush=True)
        importlib.import_module(f"benchmarks.{path.stem}").main([])


if __name__ == "__main__":
    main()
