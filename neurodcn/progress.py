"""Progress bars: tqdm's notebook widget where ipywidgets is installed, its text bar everywhere else.

``tqdm.auto`` picks the widget inside Jupyter and, without ipywidgets, prints ``TqdmWarning: IProgress not
found`` before every bar; neurodcn imports ``tqdm`` and ``trange`` from here instead.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("ipywidgets") is None:
    from tqdm.std import tqdm, trange
else:
    from tqdm.auto import tqdm, trange

__all__ = ["tqdm", "trange"]
