"""The release build: what each wheel and sdist holds, their metadata, ``twine check``."""

from __future__ import annotations

import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from .conftest import (
    ALL,
    CODE,
    EXTRAS,
    OWNS,
    RELEASED,
    REQUIRES_PYTHON,
    ROOT,
    hatch,
    run,
    version,
)

pytestmark = pytest.mark.slow


def owned_prefixes(name: str) -> tuple[str, ...]:
    """What the paths of a distribution's files in its wheel start with."""
    return tuple(path if path.endswith(".py") else f"{path}/" for path in OWNS[name])


#: What doozer-core must not ship: every other distribution's part of the package.
NOT_CORE = tuple(
    prefix for name in CODE if name != "doozer-core" for prefix in owned_prefixes(name)
)
#: Files each distribution must ship (besides its own __about__.py).
MUST_SHIP = {
    "doozer-core": [
        *("doozer/__init__.py", "doozer/py.typed", "doozer/base.py", "doozer/config.py"),
        *("doozer/exceptions.py", "doozer/extensions.py", "doozer/types.py"),
        *("doozer/outcomes.py", "doozer/testing/__init__.py", "doozer/__main__.py"),
    ],
    "doozer-cli": ["doozer/cli/__init__.py", "doozer/cli/py.typed"],
    **{
        name: [f"{OWNS[name][0]}/__init__.py", f"{OWNS[name][0]}/py.typed"]
        for name in CODE
        if name not in {"doozer-core", "doozer-cli"}
    },
    "doozer": [],
}


def source_files(name: str) -> list[str]:
    """The files of ``packages/<name>/src`` the distribution owns, as wheel paths.

    As git sees them (tracked, or new and not ignored): hatchling leaves out what
    .gitignore ignores (``__pycache__``, caches).
    """
    src = ROOT / "packages" / name / "src"
    if not OWNS[name]:
        return []
    listed = run(
        "git", "ls-files", "--cached", "--others", "--exclude-standard", *OWNS[name], cwd=src
    ).stdout.splitlines()
    # --cached lists a tracked file deleted from the work tree too: keep what is there.
    return sorted({path for path in listed if (src / path).is_file()})


def stem(name: str) -> str:
    """The name and version part of a distribution's file names."""
    return f"{name.replace('-', '_')}-{version(name)}"


def wheel(dist: Path, name: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(dist / f"{stem(name)}-py3-none-any.whl")


def wheel_files(dist: Path, name: str) -> list[str]:
    """The files a wheel installs into site-packages, besides its .dist-info."""
    with wheel(dist, name) as archive:
        return sorted(n for n in archive.namelist() if ".dist-info/" not in n)


def metadata(dist: Path, name: str) -> Message:
    with wheel(dist, name) as archive:
        text = archive.read(f"{stem(name)}.dist-info/METADATA").decode()
    return Parser().parsestr(text)


def test_one_wheel_and_one_sdist_per_distribution(dist: Path) -> None:
    expected = {f"{stem(n)}-py3-none-any.whl" for n in RELEASED}
    expected |= {f"{stem(n)}.tar.gz" for n in RELEASED}
    assert {path.name for path in dist.iterdir()} == expected


def test_twine_check(dist: Path) -> None:
    # --strict: a warning (such as a README that does not render) fails too.
    output = hatch("run", "release:check", dist).stdout
    assert output.count("PASSED") == 2 * len(RELEASED), output
    assert "WARNING" not in output


@pytest.mark.parametrize("name", RELEASED)
def test_wheel_contents(dist: Path, name: str) -> None:
    files = wheel_files(dist, name)
    assert all(path.startswith(owned_prefixes(name)) for path in files), files
    # Exactly the sources of its part of the package: nothing left out, nothing more.
    assert files == source_files(name)
    if name == "doozer-core":
        assert not [path for path in files if path.startswith(NOT_CORE)]
    else:
        # doozer/__init__.py is the core's; doozer/contrib/ is a namespace.
        assert "doozer/__init__.py" not in files
    assert "doozer/contrib/__init__.py" not in files
    assert set(MUST_SHIP[name]) <= set(files)
    assert not [path for path in files if "__pycache__" in path or path.endswith(".pyc")]
    with wheel(dist, name) as archive:
        assert f"{stem(name)}.dist-info/licenses/LICENSE" in archive.namelist()


def test_no_file_is_shipped_twice(dist: Path) -> None:
    everything = [path for name in RELEASED for path in wheel_files(dist, name)]
    assert len(everything) == len(set(everything))


def test_the_cli_installs_the_doozer_script(dist: Path) -> None:
    with wheel(dist, "doozer-cli") as archive:
        entry_points = archive.read(f"{stem('doozer-cli')}.dist-info/entry_points.txt").decode()
    assert "[console_scripts]\ndoozer = doozer.cli:main\n" in entry_points


@pytest.mark.parametrize("name", RELEASED)
def test_wheel_metadata(dist: Path, name: str) -> None:
    meta = metadata(dist, name)
    assert meta["Name"] == name
    assert meta["Version"] == version(name)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == REQUIRES_PYTHON
    assert meta["Description-Content-Type"] == "text/markdown"
    description = meta.get_payload()
    assert isinstance(description, str)
    assert description.startswith(f"# {name}\n")  # the README is the long description


def test_the_meta_package_pins_the_built_distributions(dist: Path) -> None:
    requirements = [Requirement(r) for r in metadata(dist, "doozer").get_all("Requires-Dist") or []]
    built = {name: metadata(dist, name)["Version"] for name in CODE}
    assert {r.name: str(r.specifier) for r in requirements if r.name in built} == {
        name: f"=={version}" for name, version in built.items()
    }
    assert {r.name for r in requirements} == {*built, "uvloop"}
    assert sorted(metadata(dist, "doozer").get_all("Provides-Extra") or []) == sorted(
        [*EXTRAS.values(), ALL]
    )
    for name in CODE:
        markers = sorted(str(r.marker) for r in requirements if r.name == name)
        if name in EXTRAS:
            # In its own extra and in `all`, never installed without one of them.
            assert markers == sorted(f'extra == "{extra}"' for extra in (EXTRAS[name], ALL))
        else:
            assert markers == ["None"], name


@pytest.mark.parametrize("name", RELEASED)
def test_sdist_contents(dist: Path, name: str) -> None:
    root = stem(name)
    with tarfile.open(dist / f"{root}.tar.gz") as archive:
        files = {member.name.removeprefix(f"{root}/") for member in archive.getmembers()}
    assert {"pyproject.toml", "PKG-INFO", "README.md", "CHANGELOG.md", "LICENSE"} <= files
    # The sources of exactly what the wheel ships (a wheel built from the sdist is the same).
    shipped = {f"src/{path}" for path in wheel_files(dist, name)}
    assert {path for path in files if path.startswith("src/")} == shipped
    if name == "doozer":
        assert "__about__.py" in files  # the version source
