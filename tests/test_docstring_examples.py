"""The examples in the public API's docstrings run and print what they say (doctest).

The API reference of the documentation site (``make docs``) shows these examples; this test keeps them true.
They are kept cheap: tiny or bundled models, a few stimuli, fixed-grid solvers where the numbers must not
depend on an adaptive solver's steps.
"""

import doctest
import inspect
import tempfile

import pytest

import neurodcn as nd
import neurodcn.train

PUBLIC = [name for name in nd.__all__ if name != "__version__"]
# Names of subpackages whose docstrings carry examples too (shown in the API reference).
SUBPACKAGE = {"train.train": neurodcn.train.train, "train.evaluate": neurodcn.train.evaluate}

# Public names (and VirtualCortex methods) whose docstring must carry at least one example.
WITH_EXAMPLES = [
    "SRFConv2d", "ContinuousConv2d", "resize", "ODEBlock", "SolverConfig",
    "build_model", "list_models", "register_model",
    "load_cifar10", "load_stimuli", "load_checkpoint", "save_checkpoint",
    "save_dataset", "load_dataset", "to_nwb", "to_assembly", "load_lab_nwb", "from_pynapple", "set_threads",
    "VirtualCortex", "VirtualCortex.pretrained", "VirtualCortex.from_checkpoint", "VirtualCortex.record",
    "VirtualCortex.receptive_fields", "VirtualCortex.learned_scales", "VirtualCortex.srf_kernels",
    "VirtualCortex.contrast_sweep",
    "VirtualCortex.pattern_completion", "VirtualCortex.physiology", "VirtualCortex.rsa", "VirtualCortex.predictivity",
    "train.train", "train.evaluate",
]

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def doctests(name):
    """The doctests of ``nd.<name>`` and, for a class, of the methods it defines itself (their docstrings as
    Python sees them: VirtualCortex's experiment methods take theirs from neurodcn.cortex at import time)."""
    obj = SUBPACKAGE[name] if name in SUBPACKAGE else getattr(nd, name)
    finder = doctest.DocTestFinder(recurse=inspect.isclass(obj))
    found = finder.find(obj, f"nd.{name}", module=inspect.getmodule(obj), globs={})
    return {t.name.removeprefix("nd."): t for t in found if t.examples}


ALL = {key: test for name in [*PUBLIC, *SUBPACKAGE] for key, test in doctests(name).items()}


@pytest.mark.parametrize("name", sorted(ALL))
def test_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' tempfile.mkdtemp() folders
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(ALL[name], out=report.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(report)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_public_name_has_an_example(name):
    assert name in ALL, f"nd.{name}'s docstring lost its Examples section"
