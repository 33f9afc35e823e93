"""What users get is the wheel, not the checkout: it must hold the whole package and
declare everything the package imports when it runs."""

import ast
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("executor", "pytest_flowexec")
# Offline and fast: the dev extra brings a setuptools recent enough to build it.
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation")


def source_files(package: str) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".typed"}
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources, so the checkout is never written to
    (no build/ or egg-info appears under a test run)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(dist), str(src)],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("flowexec-*.whl")
    return built


def test_the_wheel_holds_every_module_of_both_packages(wheel):
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    expected = set().union(*(source_files(package) for package in PACKAGES))
    assert {"executor/cache/__init__.py", "executor/state/__init__.py"} <= expected
    assert sorted(expected - shipped) == []


def wheel_metadata(wheel: Path) -> tuple[set[str], str]:
    """(the distributions the wheel requires outside any extra, its entry points)."""
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    required = set()
    for requirement in metadata.get_all("Requires-Dist"):
        if "extra ==" not in requirement:
            name = requirement
            for stop in "<>=!~;[ ":
                name = name.split(stop)[0]
            required.add(name.lower().replace("-", "_"))
    return required, entry_points


def test_the_wheel_declares_the_plugin_its_command_and_its_dependencies(wheel):
    required, entry_points = wheel_metadata(wheel)
    assert {"pluggy", "freezegun"} <= required
    assert "flowexec = pytest_flowexec.plugin" in entry_points
    assert "flowexec = executor.cli:main" in entry_points


def optional_requirements(wheel: Path) -> set[str]:
    """The distributions the wheel requires only for an extra (``flowexec[dask]``)."""
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
    names = set()
    for requirement in metadata.get_all("Requires-Dist"):
        if "extra ==" in requirement and 'extra == "dev"' not in requirement:
            name = requirement
            for stop in "<>=!~;[ ":
                name = name.split(stop)[0]
            names.add(name.lower().replace("-", "_"))
    return names


def module_level_import_lines(path: Path) -> set[int]:
    """Lines of imports that run when the module is imported (not inside a function)."""
    lines = set()
    todo: list[ast.AST] = list(ast.parse(path.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            lines.add(node.lineno)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return lines


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")


def runtime_imports(path: Path):
    """(line, top-level module) of every import that runs, TYPE_CHECKING blocks left out."""
    todo: list[ast.AST] = [ast.parse(path.read_text())]
    while todo:
        node = todo.pop()
        if is_type_checking_block(node):
            todo.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        todo.extend(ast.iter_child_nodes(node))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imported_at_run_time_is_a_declared_dependency(package, wheel):
    # Distribution and module names coincide for our dependencies (pluggy, freezegun).
    # pytest itself is the host of the plugin: the plugin is only loaded by a pytest run.
    provided = set(sys.stdlib_module_names) | set(PACKAGES) | wheel_metadata(wheel)[0]
    if package == "pytest_flowexec":
        provided |= {"pytest", "_pytest"}
    optional = optional_requirements(wheel)  # extras: imported lazily, in a function
    undeclared = [
        f"{path.relative_to(ROOT)}:{line}: import {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in runtime_imports(path)
        if module not in provided
        and (
            module not in optional
            or (line in module_level_import_lines(path) and path.name not in EXTRA_MODULES)
        )
    ]
    assert undeclared == [], "declare these in [project] dependencies, or import them lazily"


EXTRA_MODULES = {"strategies.py", "properties.py"}
"""The [hypothesis] extra's own modules: they import hypothesis when imported, and say
which extra to install when it is missing (tested below)."""

BLOCK_EXTRAS = """
import importlib, pkgutil, sys

class NotInstalled:  # as if flowexec were installed without its extras
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"distributed", "dask", "tornado", "hypothesis"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
from executor import ExecutorCore, MissingExtra
imported = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    imported.append(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        try:
            importlib.import_module(module.name)
        except MissingExtra as error:
            print(error)
        else:
            imported.append(module.name)
try:
    ExecutorCore(executor="dask")
except MissingExtra as error:
    print(error)
print(len(imported))
"""


def test_without_the_extras_every_other_module_imports(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", BLOCK_EXTRAS, *PACKAGES],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    *messages, counted = out.stdout.splitlines()
    assert messages == [
        f"pytest_flowexec.{name} needs the optional dependency 'hypothesis', which is not "
        'installed; install it with: pip install "flowexec[hypothesis]"'
        for name in ("properties", "strategies")
    ] + [
        "executor=\"dask\" needs the optional dependency 'distributed', which is not "
        'installed; install it with: pip install "flowexec[dask]"'
    ]
    modules = sum(len(list((ROOT / p).rglob("*.py"))) for p in PACKAGES)
    assert counted == str(modules - len(EXTRA_MODULES))  # all others imported
