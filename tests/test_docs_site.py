"""The documentation site (mkdocs.yml, docs/) stays complete; `make docs` builds it with warnings as errors.

The build itself runs in `make test` (the `docs` target), so a broken link, a docstring whose Args name a
parameter the function lacks, or a missing page fails there. These tests check what the build cannot: every
notebook is on the site, and the site shows the notebooks with their outputs (the build executes nothing).
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MKDOCS = (REPO / "mkdocs.yml").read_text()


def tracked_notebooks() -> list[str]:
    out = subprocess.run(["git", "ls-files", "notebooks/*.ipynb"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout (an sdist): every notebook present
        return sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    return sorted(Path(line).name for line in out.stdout.splitlines())


NOTEBOOKS = tracked_notebooks()


def test_the_notebooks_folder_is_the_sites():
    link = REPO / "docs" / "notebooks"
    assert link.is_symlink() and link.resolve() == (REPO / "notebooks").resolve()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_in_the_site_navigation(name):
    assert re.search(rf"^\s*- notebooks/{re.escape(name)}\s*$", MKDOCS, re.M), (
        f"add '- notebooks/{name}' to the Notebooks section of mkdocs.yml's nav"
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_with_its_outputs(name):
    cells = json.loads((REPO / "notebooks" / name).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    missing = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not missing, (
        f"{name}: code cells {missing} were not executed; the site shows the stored outputs, so store them: "
        f"cd notebooks && jupyter nbconvert --to notebook --execute --inplace {name}"
    )
