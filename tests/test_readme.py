"""Every Python example of README.md runs as written, in order, and prints what the README shows."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import RUNNER, readme_blocks, undefined_names

REPO = Path(__file__).resolve().parents[1]


def test_blocks_fences_and_outputs_are_read_as_written():
    text = "intro\n```python\nx = 1\n```\n```output\n1\n```\n```python no-run\ntrain()\n```\n```bash\nls\n```\n"
    blocks = readme_blocks(text)
    assert [(b["code"], b["output"], b["run"], b["line"]) for b in blocks] == [
        ("x = 1\n", "1\n", True, 2),
        ("train()\n", None, False, 8),
    ]
    with pytest.raises(ValueError, match="must be one of"):
        readme_blocks("```py\nx\n```\n")
    with pytest.raises(ValueError, match="output fence must follow"):
        readme_blocks("```python\nx\n```\ntext between\n```output\n1\n```\n")
    with pytest.raises(ValueError, match="output fence must follow"):
        readme_blocks("```python no-run\nx\n```\n```output\n1\n```\n")


def test_undefined_names_of_a_block():
    assert undefined_names("import torch\nx = torch.rand(2)\nprint(len(x), vc)\n") == {"vc"}
    assert undefined_names("from a import b as c\nfor i in c(): f = lambda q: q + i\n") == set()


def test_every_readme_block_runs_and_stands_alone():
    """Every python block is run by the test below (none is no-run), and each defines or imports all it uses,
    so a reader can paste any one block alone; no block names a path that is not there."""
    blocks = readme_blocks((REPO / "README.md").read_text())
    assert [b["line"] for b in blocks if not b["run"]] == []
    for b in blocks:
        assert undefined_names(b["code"]) == set(), f"README block at line {b['line']}"
        placeholder = "my/" in b["code"] or "path/to" in b["code"]
        assert not placeholder, f"README block at line {b['line']}: a placeholder path"


def run_readme(python: str, folder: Path, env: dict) -> subprocess.CompletedProcess:
    """Run the README's blocks with interpreter ``python`` in ``folder`` (the examples write files there)."""
    blocks = readme_blocks((REPO / "README.md").read_text())
    (folder / "blocks.json").write_text(json.dumps(blocks))
    (folder / "runner.py").write_text(RUNNER)
    return subprocess.run(
        [python, "runner.py", "blocks.json"], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path):
    blocks = readme_blocks((REPO / "README.md").read_text())
    assert sum(b["run"] for b in blocks) >= 4 and any(b["output"] for b in blocks)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    result = run_readme(sys.executable, tmp_path, env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"ran {sum(b['run'] for b in blocks)} README blocks" in result.stdout
