"""Every distribution's pyproject is written the same way; the meta-package pins its siblings.

These read the sources only (no build): a release that forgot to bump a pin,
or a distribution without its LICENSE, fails here first.
"""

from __future__ import annotations

import ast
import re

import pytest
from packaging.requirements import Requirement

from .conftest import EXTRAS, RELEASED, ROOT, pyproject, release_build_dirs, version, version_file

CODE = [name for name in RELEASED if name != "doozer"]


def test_the_release_builds_every_distribution() -> None:
    assert release_build_dirs() == list(RELEASED)


@pytest.mark.parametrize("name", RELEASED)
def test_pyproject_is_written_like_the_others(name: str) -> None:
    config, core = pyproject(name), pyproject("doozer-core")
    project = config["project"]
    assert project["name"] == name
    assert config["build-system"] == core["build-system"]
    assert project["dynamic"] == ["version"]
    assert "version" not in project
    for key in ("readme", "license", "license-files", "requires-python", "authors"):
        assert project[key] == core["project"][key], key
    assert project["readme"] == "README.md"
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert project["requires-python"] == ">=3.10"
    # PEP 639: the license expression replaces the License :: classifiers.
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    pythons = [c for c in project["classifiers"] if c.startswith("Programming Language")]
    assert pythons == [
        c for c in core["project"]["classifiers"] if c.startswith("Programming Language")
    ]
    sdist = config["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert {"README.md", "CHANGELOG.md", "LICENSE"} <= set(sdist)
    version_path = version_file(name).relative_to(ROOT / "packages" / name).as_posix()
    assert any(version_path == path or version_path.startswith(f"{path}/") for path in sdist)


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
    # core <- cli <- sphinx, core <- retry; core depends on nothing.
    expected = {
        "doozer-core": set(),
        "doozer-cli": {"doozer-core", "watchdog"},
        "doozer-retry": {"doozer-core"},
        "doozer-sphinx": {"doozer-core", "doozer-cli", "sphinx", "sphinxcontrib-autoprogram"},
        "doozer-amqp": {"doozer-core", "aio-pika"},
    }
    for name, names in expected.items():
        requirements = [Requirement(text) for text in pyproject(name)["project"]["dependencies"]]
        assert {r.name for r in requirements} == names, name
        for requirement in requirements:
            assert [s.operator for s in requirement.specifier] == [">="], requirement


def test_the_meta_package_pins_the_current_versions() -> None:
    requirements = [Requirement(text) for text in pyproject("doozer")["project"]["dependencies"]]
    pinned = {r.name: str(r.specifier) for r in requirements if r.name.startswith("doozer")}
    assert pinned == {name: f"=={version(name)}" for name in CODE if name not in EXTRAS}
    extras = pyproject("doozer")["project"]["optional-dependencies"]
    assert extras == {extra: [f"{name}=={version(name)}"] for name, extra in EXTRAS.items()}
    others = [r for r in requirements if not r.name.startswith("doozer")]
    assert [(r.name, str(r.marker)) for r in others] == [("uvloop", 'sys_platform != "win32"')]
    # The public index has doozer 1.x: the meta-package must be a later major version.
    assert int(version("doozer").split(".")[0]) >= 2
    assert pyproject("doozer")["tool"]["hatch"]["build"]["targets"]["wheel"] == {
        "bypass-selection": True
    }
