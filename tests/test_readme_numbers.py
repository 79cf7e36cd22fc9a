"""The README's "real output of brain_similarity.py" is the current default model's: its lines are rebuilt here
from the tables the script wrote (committed in analyses/reference/brain_similarity/), so a rerun that changes
a number, or a new default model, fails this test until the README and the tables agree again."""

import importlib
import re
from pathlib import Path

import pandas as pd

from neurodcn.data.bundled import DEFAULT_CHECKPOINT

REPO = Path(__file__).resolve().parents[1]
TABLES = REPO / "analyses" / "reference" / "brain_similarity"
brain_similarity = importlib.import_module("analyses.brain_similarity")


def _readme_output() -> list[str]:
    text = (REPO / "README.md").read_text()
    m = re.search(r"Real output of `analyses/brain_similarity\.py`.*?\n```\n(.*?)```", text, re.S)
    assert m, "README lacks the brain_similarity output block"
    return m.group(1).rstrip("\n").splitlines()


def test_readme_brain_similarity_output_is_the_committed_run_of_the_default_model():
    rsa = pd.read_csv(TABLES / f"rsa_92images_{DEFAULT_CHECKPOINT}.csv")
    v4 = pd.read_csv(TABLES / f"predictivity_v4_{DEFAULT_CHECKPOINT}.csv")
    times = brain_similarity.settings(quick=False)["times"]
    want = [f"brain_similarity: {DEFAULT_CHECKPOINT}, model times {times}, time_ms = 50 + 25 t",
            *brain_similarity._summary(rsa, "RSA"), *brain_similarity._summary(v4, "predictivity")]
    assert _readme_output() == want
    assert len(rsa) == 4 * 3 and len(v4) == 4 * 3  # 4 regions / V4 sessions x 3 blocks: a full run
