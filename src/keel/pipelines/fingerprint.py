"""A step's code fingerprint, part of its cache key: the normalised code of the function and, recursively, of the
project functions it calls.

"Normalised" means the AST with docstrings removed: a change to comments, blank lines, formatting or a docstring does
NOT invalidate the cache; any change to what the code does (including in a helper function of the project it calls)
does. Functions from installed packages and the standard library count by their package version instead (see the
step's ``env`` option to declare more).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable
from typing import Any

__all__ = ["code_fingerprint", "is_library_module"]

_cache: dict[int, tuple[Any, str]] = {}
_LIBRARY_DIRS = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")})


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A hex digest of ``fn``'s normalised code and the project functions it reaches."""
    # keyed by identity: equal code objects of two loads of a file may reach different helpers
    cached = _cache.get(id(fn))
    if cached is not None and cached[0] is fn:
        return cached[1]
    digest = hashlib.blake2b(digest_size=16)
    for part in sorted(_collect(fn, {})):
        digest.update(part.encode())
    _cache[id(fn)] = (fn, digest.hexdigest())
    return digest.hexdigest()


def _collect(fn: Any, seen: dict[int, str]) -> list[str]:
    if id(fn) in seen:
        return []
    seen[id(fn)] = ""
    parts = [f"{getattr(fn, '__qualname__', '')}:{_normalised(fn)}"]  # not the module: a file loads under a new name
    code = getattr(fn, "__code__", None)
    if code is None:
        return parts
    namespace = getattr(fn, "__globals__", {})
    for name in _names(code):
        target = namespace.get(name)
        target = getattr(target, "fn", target)  # a keel step used as a helper: its function
        if isinstance(target, types.FunctionType) and _is_project(target):
            parts += _collect(target, seen)
    return parts


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _is_project(fn: types.FunctionType) -> bool:
    module = sys.modules.get(fn.__module__)
    path = getattr(module, "__file__", None) or fn.__code__.co_filename
    return not str(path).startswith(_LIBRARY_DIRS) and not fn.__module__.startswith("keel.")


def is_library_module(module: types.ModuleType) -> bool:
    """True for the standard library, installed packages and Keel itself (importable anywhere Keel is)."""
    path = getattr(module, "__file__", None)
    return path is None or str(path).startswith(_LIBRARY_DIRS) or module.__name__.split(".")[0] == "keel"


def _normalised(fn: Any) -> str:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        code = getattr(fn, "__code__", None)
        return code.co_code.hex() if code is not None else repr(fn)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.decorator_list = []
            body = node.body
            first = body[0].value if body and isinstance(body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)
