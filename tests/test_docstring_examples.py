"""The examples in the public API's docstrings run and print what they say (doctest).

The API reference of the documentation site (``make docs``) shows these examples; this test keeps them true.
They are kept cheap: tiny or bundled models, a few stimuli, fixed-grid solvers where the numbers must not
depend on an adaptive solver's steps.
"""

import doctest
import inspect

import pytest

import neurodcn as nd

PUBLIC = [name for name in nd.__all__ if name != "__version__"]

# Public names whose docstring (or a method's) must carry at least one example.
WITH_EXAMPLES = [
    "SRFConv2d", "ContinuousConv2d", "resize", "ODEBlock", "SolverConfig",
    "build_model", "list_models", "register_model",
    "load_cifar10", "load_stimuli", "load_checkpoint", "save_checkpoint",
    "save_dataset", "load_dataset", "to_nwb", "to_assembly",
]

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def doctests(name):
    """The doctests of ``nd.<name>`` and, for a class, of the methods it defines itself."""
    obj = getattr(nd, name)
    finder = doctest.DocTestFinder(recurse=inspect.isclass(obj))
    return [t for t in finder.find(obj, f"nd.{name}", module=inspect.getmodule(obj), globs={}) if t.examples]


@pytest.mark.parametrize("name", PUBLIC)
def test_examples_run(name):
    tests = doctests(name)
    if not tests:
        pytest.skip(f"nd.{name} has no docstring example yet")
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_public_name_has_an_example(name):
    assert doctests(name), f"nd.{name}'s docstring lost its Examples section"
