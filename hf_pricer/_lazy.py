"""Lazy package attributes (PEP 562), so that `import hf_pricer` loads only what registering the models needs.

A package declares which of its submodules defines each public name; the submodule is imported the first
time the name is used, as `transformers` does for its own names.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping


def attach(
    package: str,
    names: Mapping[str, Iterable[str]],
    submodules: Iterable[str] = (),
    renamed: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """`(__getattr__, __dir__, __all__)` for `package`.

    Args:
        package: the package's `__name__`.
        names: relative submodule (e.g. `".trainer"`) → the public names it defines.
        submodules: relative submodules that are themselves public attributes (e.g. `".metrics"`).
        renamed: old public name → new one; the old name still works, with a `FutureWarning`.
    """
    owner = {name: module for module, module_names in names.items() for name in module_names}
    modules = {module.lstrip("."): module for module in submodules}
    renamed = dict(renamed or {})

    def __getattr__(name: str):
        if name in renamed:
            warnings.warn(
                f"`{package}.{name}` was renamed `{renamed[name]}`; the old name will be removed in a future "
                "release",
                FutureWarning,
                stacklevel=2,
            )
            return getattr(sys.modules[package], renamed[name])
        if name in modules:
            value = importlib.import_module(modules[name], package)
        elif name in owner:
            value = getattr(importlib.import_module(owner[name], package), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    public = sorted({*owner, *modules})

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return __getattr__, __dir__, public
