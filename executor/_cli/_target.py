"""Finding the flow a command names: ``path/to/file.py:flow`` or ``package.module:flow``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from executor._errors import UsageError
from executor._flow import Flow

EXAMPLE = "flows.py:report"


def load_flow(target: str) -> Flow:
    """The :class:`Flow` object ``target`` names.

    A target whose module part ends in ``.py`` or holds a path separator is a file,
    imported under its file name with its folder first on ``sys.path`` (so process
    pools can import it again by name); anything else is an importable module.

    Raises:
        UsageError: a malformed target, a missing file or module, a missing name,
            an object that is not a Flow, or a module that fails to import.
    """
    module_part, sep, name = target.rpartition(":")
    if not sep or not module_part or not name:
        raise UsageError(
            f"flow target {target!r} must be FILE.py:NAME or package.module:NAME (e.g. {EXAMPLE})"
        )
    module = _import_target(target, module_part)
    found = getattr(module, name, None)
    if isinstance(found, Flow):
        return found
    flows = sorted(k for k, v in vars(module).items() if isinstance(v, Flow))
    there = f"; flows there: {', '.join(flows)}" if flows else "; it defines no Flow"
    if found is None:
        raise UsageError(f"flow target {target!r}: {module_part} has no name {name!r}{there}")
    raise UsageError(
        f"flow target {target!r}: {name!r} is a {type(found).__qualname__}, not a Flow{there}"
    )


def _import_target(target: str, module_part: str) -> ModuleType:
    is_file = module_part.endswith(".py") or "/" in module_part or "\\" in module_part
    try:
        return (
            _import_file(target, Path(module_part))
            if is_file
            else _import_module(target, module_part)
        )
    except UsageError:
        raise
    except Exception as error:
        raise UsageError(
            f"flow target {target!r}: importing {module_part} raised "
            f"{type(error).__name__}: {error} (run with --debug for the traceback)"
        ) from error


def _import_module(target: str, dotted: str) -> ModuleType:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # like `python -m`: the current folder first
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as error:
        if error.name is not None and (dotted == error.name or dotted.startswith(error.name + ".")):
            raise UsageError(
                f"flow target {target!r}: no module named {error.name!r}; give a file path "
                f"(e.g. {EXAMPLE}) or a module importable from {Path.cwd()}"
            ) from None
        raise


def _import_file(target: str, path: Path) -> ModuleType:
    if path.suffix != ".py" or not path.is_file():
        what = "is not a .py file" if path.exists() else "does not exist"
        raise UsageError(
            f"flow target {target!r}: {str(path)!r} {what} (relative to {Path.cwd()}); "
            f"give the path of the Python file that defines the flow"
        )
    path = path.resolve()
    name = path.stem
    if not name.isidentifier():
        raise UsageError(
            f"flow target {target!r}: {path.name!r} cannot be imported as a module; "
            f"rename it to a Python identifier (e.g. my_flows.py)"
        )
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # a spawned worker process imports the file by name
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None  # a .py file always has a spec and a loader
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # steps pickle by reference: module name + qualname
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
