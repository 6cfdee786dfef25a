"""What a template may reach: its files, filters, tests and imported macros.

`ReachLoader` finds macro and include files like Jinja's `FileSystemLoader`, but
never through a symlink that leads outside its folders (the definition's folder
and linepress's `templates/`): a link beside the definition must not copy
`/etc/passwd` into a body. It also refuses files too large to be templates and
names the line of a byte that is not UTF-8.

`unknown_names` finds, before anything runs, a filter, test or imported macro
that does not exist (`{{ name | uppr }}`, `{{ fmt.yenn(price) }}`), with the
closest name that does.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, FileSystemLoader, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.environment import TemplateModule

#: The largest template file read, in bytes (as for definitions).
MAX_TEMPLATE_BYTES = 1024 * 1024


class OutsideReach(TemplateNotFound):
    """A template file that is there, but only through a symlink leading out of the folders."""


class ReachLoader(FileSystemLoader):
    """`FileSystemLoader` that stays inside its folders, symlinks included."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        try:
            source, filename, uptodate = super().get_source(environment, template)
        except UnicodeDecodeError as exc:
            raise _not_utf8(self._find(template), template, exc) from None
        if not self._inside(filename):
            raise OutsideReach(
                template,
                f"{template!r} leads outside the definition's folder and linepress's "
                "templates/ (through a symlink); templates must stay inside them",
            )
        if len(source) > MAX_TEMPLATE_BYTES:
            raise TemplateSyntaxError(
                f"the file is larger than {MAX_TEMPLATE_BYTES // (1024 * 1024)} MiB",
                1,
                template,
                filename,
            )
        return source, filename, uptodate

    def _inside(self, filename: str) -> bool:
        real = os.path.realpath(filename)
        for root in self.searchpath:
            top = os.path.realpath(root)
            if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
                return True
        return False

    def _find(self, template: str) -> str:
        for root in self.searchpath:
            candidate = os.path.join(root, *template.split("/"))
            if os.path.isfile(candidate):
                return candidate
        return template


def _not_utf8(filename: str, template: str, exc: UnicodeDecodeError) -> TemplateSyntaxError:
    try:
        with open(filename, "rb") as file:
            data = file.read(MAX_TEMPLATE_BYTES)
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1]
    except OSError:
        line, byte = 1, b""
    found = f" (byte {byte[0]:#04x})" if byte else ""
    return TemplateSyntaxError(f"the file is not UTF-8 text{found}", line, template, filename)


def unknown_names(env: Environment, tree: nodes.Template) -> tuple[str, int] | None:
    """The first unknown filter, test or imported macro in `tree`: (message, line)."""
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        if node.name is None:  # a `{% filter %}` block's own node
            continue
        kind, known = (
            ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        )
        if node.name not in known:
            return f"unknown {kind} `{node.name}`{_suggest(node.name, list(known))}", node.lineno
        named = _named_by_argument(node)
        if named is not None:  # `map('uppr')`, `select('od')`: a filter or test by name
            kind, name = named
            known = env.filters if kind == "filter" else env.tests
            if name not in known:
                return f"unknown {kind} `{name}`{_suggest(name, list(known))}", node.lineno
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for access in tree.find_all(nodes.Getattr):
        target = access.node
        if not isinstance(target, nodes.Name) or target.name in stored:
            continue
        module = env.globals.get(target.name)
        if isinstance(module, TemplateModule):
            names = _macro_names(module, env)
            if access.attr not in names:
                alias = target.name
                hint = _suggest(access.attr, names, prefix=f"{alias}.")
                listing = ", ".join(names) if names else "none"
                return (
                    f"unknown macro `{alias}.{access.attr}`{hint} "
                    f"({getattr(module, '__name__', alias)} has: {listing})",
                    access.lineno,
                )
    return None


#: Filters that apply another filter or test named by their argument: (kind, position).
_BY_NAME = {
    "map": ("filter", 0),
    "select": ("test", 0),
    "reject": ("test", 0),
    "selectattr": ("test", 1),
    "rejectattr": ("test", 1),
}


def _named_by_argument(node: nodes.Node) -> tuple[str, str] | None:
    """For `map('upper')` and the like: ("filter", "upper"); None for other nodes."""
    if not isinstance(node, nodes.Filter) or node.name not in _BY_NAME:
        return None
    kind, position = _BY_NAME[node.name]
    if node.name == "map" and any(k.key == "attribute" for k in node.kwargs):
        return None
    argument = node.args[position] if len(node.args) > position else None
    if not isinstance(argument, nodes.Const):
        return None
    name = argument.value
    return (kind, name) if isinstance(name, str) else None


def _macro_names(module: Any, env: Any = None) -> list[str]:
    """The macros a file offers, in the file's order (Jinja exports them from a set,
    which would make the message differ from run to run)."""
    names = [name for name in vars(module) if not name.startswith("_")]
    try:
        source = env.loader.get_source(env, module.__name__)[0]
    except Exception:  # no loader or file: still a stable order
        return sorted(names)

    def place(name: str) -> tuple[int, str]:
        found = re.search(r"\{%-?\s*macro\s+" + re.escape(name) + r"\s*\(", source)
        return (found.start() if found else len(source), name)

    return sorted(names, key=place)


def _suggest(name: str, known: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean `{prefix}{close[0]}`?" if close else ""
