"""Every distribution's pyproject is written the same way; the meta-package pins its siblings.

These read the sources only (no build): a release that forgot to bump a pin,
or a distribution without its LICENSE, fails here first.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import distributions

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from .conftest import (
    ALL,
    CODE,
    EXTRAS,
    OWNS,
    RELEASED,
    REQUIRES_PYTHON,
    ROOT,
    pyproject,
    release_build_dirs,
    version,
    version_file,
)

#: Each distribution's direct dependencies: what its code imports, nothing more.
DEPENDENCIES = {
    "doozer-core": set(),
    "doozer-cli": {"doozer-core", "watchdog"},
    "doozer-retry": {"doozer-core"},
    "doozer-sphinx": {
        *("doozer-core", "doozer-cli", "sphinx", "sphinxcontrib-autoprogram", "docutils"),
    },
    "doozer-amqp": {"doozer-core", "aio-pika", "aiormq", "yarl"},
    "doozer-redis": {"doozer-core", "redis"},
    "doozer-prometheus": {"doozer-core", "prometheus-client"},
    "doozer-nats": {"doozer-core", "nats-py"},
    # The `doozer db` commands extend the command line.
    "doozer-database": {"doozer-core", "doozer-cli", "sqlalchemy", "alembic"},
    "doozer-otel": {"doozer-core", "opentelemetry-api"},
    # opentelemetry-api is optional there (trace ids when it is installed): no dependency.
    "doozer-logging": {"doozer-core", "structlog"},
}


def requirements(name: str) -> list[Requirement]:
    return [Requirement(text) for text in pyproject(name)["project"]["dependencies"]]


def test_the_release_builds_every_distribution() -> None:
    assert release_build_dirs() == list(RELEASED)
    # A new directory under packages/ is released too (or this test says so).
    assert {path.parent.name for path in (ROOT / "packages").glob("*/pyproject.toml")} == set(
        RELEASED
    )
    # Each one is built after the distributions it depends on.
    for position, name in enumerate(RELEASED):
        ours = {r.name for r in requirements(name) if r.name in RELEASED}
        assert ours <= set(RELEASED[:position]), name


@pytest.mark.parametrize("name", RELEASED)
def test_pyproject_is_written_like_the_others(name: str) -> None:
    config, core = pyproject(name), pyproject("doozer-core")
    project = config["project"]
    assert project["name"] == name
    assert config["build-system"] == core["build-system"]
    assert project["dynamic"] == ["version"]
    assert "version" not in project
    for key in ("readme", "license", "license-files", "authors"):
        assert project[key] == core["project"][key], key
    assert project["readme"] == "README.md"
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert project["requires-python"] == REQUIRES_PYTHON
    # PEP 639: the license expression replaces the License :: classifiers.
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    # The core's Python classifiers (3.10 to 3.13), those its requires-python allows.
    supported = SpecifierSet(REQUIRES_PYTHON)
    pythons = [c for c in project["classifiers"] if c.startswith("Programming Language")]
    assert pythons == [
        c
        for c in core["project"]["classifiers"]
        if c.startswith("Programming Language")
        and (not re.fullmatch(r".*:: 3\.\d+", c) or c.rsplit(" ", 1)[1] in supported)
    ]
    for key in ("Development Status", "Framework :: AsyncIO", "Intended Audience"):
        assert [c for c in project["classifiers"] if c.startswith(key)] == [
            c for c in core["project"]["classifiers"] if c.startswith(key)
        ], key
    assert project["description"].strip()
    assert project["keywords"]


@pytest.mark.parametrize("name", RELEASED)
def test_file_selection(name: str) -> None:
    # hatchling's file selection, as DESIGN.md says: doozer-core ships the doozer package,
    # every other distribution only its own part of it (never doozer/__init__.py).
    targets = pyproject(name)["tool"]["hatch"]["build"]["targets"]
    documents = ["README.md", "CHANGELOG.md", "LICENSE"]
    if name == "doozer":
        assert targets["wheel"] == {"bypass-selection": True}
        assert targets["sdist"] == {"include": ["__about__.py", *documents]}
        return
    sources = [f"src/{path}" for path in OWNS[name]]
    if name == "doozer-core":
        assert targets["wheel"] == {"packages": sources}
    else:
        assert targets["wheel"] == {"only-include": sources, "sources": ["src"]}
    assert targets["sdist"] == {"include": [*sources, *documents]}
    # The version is read from a file the distribution ships.
    version_path = version_file(name).relative_to(ROOT / "packages" / name).as_posix()
    assert version_path == f"{sources[0]}/__about__.py"


@pytest.mark.parametrize("name", RELEASED)
def test_license_readme_and_changelog(name: str) -> None:
    directory = ROOT / "packages" / name
    license_text = (directory / "LICENSE").read_text()
    assert license_text == (ROOT / "packages" / "doozer-core" / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n")
    assert "The Doozer developers" in license_text
    assert (directory / "README.md").read_text().startswith(f"# {name}\n")
    changelog = (directory / "CHANGELOG.md").read_text()
    latest = re.search(r"^## (\S+)", changelog, re.MULTILINE)
    assert latest, "CHANGELOG.md has no version entry"
    assert latest[1] == version(name)


@pytest.mark.parametrize("name", CODE)
def test_code_distributions_are_typed(name: str) -> None:
    assert (version_file(name).parent / "py.typed").is_file()
    assert "Typing :: Typed" in pyproject(name)["project"]["classifiers"]


def test_one_doozer_package_from_several_distributions() -> None:
    # Only doozer-core has doozer/__init__.py (with extend_path); doozer/contrib/ is a
    # namespace package everywhere. Any other __init__.py there hides the others' modules.
    sources = sorted((ROOT / "packages").glob("*/src"))
    inits = [p.relative_to(ROOT).as_posix() for s in sources for p in s.glob("doozer/__init__.py")]
    assert inits == ["packages/doozer-core/src/doozer/__init__.py"]
    assert not [s for s in sources if (s / "doozer" / "contrib" / "__init__.py").exists()]
    module = ast.parse((ROOT / "packages/doozer-core/src/doozer/__init__.py").read_text())
    first = module.body[1]  # after the docstring
    assert ast.unparse(first) == "__path__ = __import__('pkgutil').extend_path(__path__, __name__)"


def test_dependency_graph() -> None:
    # core <- everything; cli <- sphinx, database; core depends on nothing.
    assert set(DEPENDENCIES) == set(CODE)
    for name, names in DEPENDENCIES.items():
        assert {r.name for r in requirements(name)} == names, name
        for requirement in requirements(name):
            # A lower bound (the oldest version known to work), never an upper one.
            assert [s.operator for s in requirement.specifier] == [">="], requirement
            assert requirement.marker is None, requirement
            if requirement.name in RELEASED:
                # Siblings: any release of the same major version.
                major_minor = ".".join(version(requirement.name).split(".")[:2])
                assert str(requirement.specifier) == f">={major_minor}", requirement


def imported_modules(name: str) -> set[str]:
    """The top-level modules a distribution's code imports, besides doozer and the stdlib.

    An import in a ``try`` that catches ImportError is optional: it is left out.
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and any(
            ast.unparse(handler.type or ast.Name("BaseException"))
            in {"ImportError", "ModuleNotFoundError"}
            for handler in node.handlers
        ):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    for owned in OWNS[name]:
        path = ROOT / "packages" / name / "src" / owned
        for source in [path] if path.is_file() else sorted(path.rglob("*.py")):
            visit(ast.parse(source.read_text(), str(source)))
    return found - set(sys.stdlib_module_names) - {"__future__", "doozer"}


def module_providers() -> dict[str, set[str]]:
    """``{top-level module: distributions installing it}`` in the running environment.

    From each distribution's list of files: Python 3.10's packages_distributions()
    reads only top_level.txt, which wheels built by hatchling do not have.
    """
    providers: dict[str, set[str]] = {}
    for distribution in distributions():
        for file in distribution.files or []:
            top = file.parts[0].removesuffix(".py") if file.parts else ""
            if top.isidentifier() and (len(file.parts) > 1 or file.suffix == ".py"):
                providers.setdefault(top, set()).add(canonicalize_name(distribution.name))
    return providers


@pytest.mark.parametrize("name", CODE)
def test_dependencies_are_what_the_code_imports(name: str) -> None:
    # Read in the environment running this suite (every workspace member installed).
    providers = module_providers()
    third_party = {canonicalize_name(r.name) for r in requirements(name)} - set(RELEASED)
    for module in imported_modules(name):
        candidates = providers.get(module, set())
        assert candidates, f"{name} imports {module}, which no installed distribution provides"
        assert candidates & third_party, (
            f"{name} imports {module} but declares none of {candidates}"
        )
    # ... and each declared third-party dependency is imported.
    imported = {canonicalize_name(d) for m in imported_modules(name) for d in providers.get(m, [])}
    assert third_party <= imported, third_party - imported


def test_the_meta_package_pins_the_current_versions() -> None:
    requirements = [Requirement(text) for text in pyproject("doozer")["project"]["dependencies"]]
    pinned = {r.name: str(r.specifier) for r in requirements if r.name.startswith("doozer")}
    assert pinned == {name: f"=={version(name)}" for name in CODE if name not in EXTRAS}
    extras = pyproject("doozer")["project"]["optional-dependencies"]
    pins = {extra: [f"{name}=={version(name)}"] for name, extra in EXTRAS.items()}
    assert {extra: pin for extra, pin in extras.items() if extra != ALL} == pins
    # `doozer[all]`: every extra at once, nothing else.
    assert sorted(extras[ALL]) == sorted(pin for (pin,) in pins.values())
    others = [r for r in requirements if not r.name.startswith("doozer")]
    assert [(r.name, str(r.marker)) for r in others] == [("uvloop", 'sys_platform != "win32"')]
    # The public index has doozer 1.x: the meta-package must be a later major version.
    assert int(version("doozer").split(".")[0]) >= 2
    assert pyproject("doozer")["tool"]["hatch"]["build"]["targets"]["wheel"] == {
        "bypass-selection": True
    }


def test_the_meta_package_readme_names_every_extra() -> None:
    readme = (ROOT / "packages" / "doozer" / "README.md").read_text()
    for name, extra in [*EXTRAS.items(), ("", ALL)]:
        assert f"doozer[{extra}]" in readme, extra
        assert f"`{name}`" in readme or not name, name
