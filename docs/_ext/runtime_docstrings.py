"""Griffe extensions for the docs build (mkdocs.yml names them); they change nothing in the package.

``RuntimeDocstrings``: ``VirtualCortex``'s experiment methods take the docstrings of the functions that run
them (``record.__doc__ = neurodcn.cortex.record.record.__doc__``), so each docstring is written once, beside
the code. Griffe reads source code without running it and would find no docstring; this extension imports the
classes named in ``paths`` and fills in, for each of their methods without a docstring in the source, the one
it has at run time.

``SphinxRoles``: some docstrings name other objects with Sphinx roles (:func:`name`); Markdown has no roles,
so they are shown as code (`name`).
"""

from __future__ import annotations

import importlib
import inspect
import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const):`~?([^`]+)`")


def strip_roles(text: str) -> str:
    return ROLE.sub(r"`\1`", text)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)


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
                    strip_roles(doc), lineno=member.lineno, parent=member,
                    parser=cls.docstring.parser if cls.docstring else None, parser_options=options,
                )
