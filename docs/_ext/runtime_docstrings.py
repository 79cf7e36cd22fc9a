"""Griffe extension for the docs build: methods whose docstring is assigned at import time get it.

``VirtualCortex``'s experiment methods take the docstrings of the functions that run them
(``record.__doc__ = neurodcn.cortex.record.record.__doc__``), so the docstring is written once, beside the code.
Griffe reads source code without running it and would find no docstring; this extension imports the classes
named in ``paths`` and fills in, for each of their methods without a docstring in the source, the one it has
at run time.
"""

from __future__ import annotations

import importlib
import inspect

import griffe


class RuntimeDocstrings(griffe.Extension):
    def __init__(self, paths: list[str]):
        self.paths = set(paths)

    def on_class_members(self, *, cls: griffe.Class, **kwargs) -> None:
        if cls.path not in self.paths:
            return
        module, _, name = cls.path.rpartition(".")
        live = getattr(importlib.import_module(module), name)
        for member_name, member in cls.members.items():
            if member.is_alias or not member.is_function or member.docstring is not None:
                continue
            doc = inspect.getdoc(getattr(live, member_name, None))
            if doc:
                # the docstring is the function's (vc, images, ..., max_num_steps, ...), the method's signature
                # (self, images, ..., **budget): its Args may name parameters that the method takes as **kwargs
                options = dict(cls.docstring.parser_options if cls.docstring else {}, warn_unknown_params=False)
                member.docstring = griffe.Docstring(
                    doc, lineno=member.lineno, parent=member,
                    parser=cls.docstring.parser if cls.docstring else None, parser_options=options,
                )
