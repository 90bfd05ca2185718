"""The doozercli directive, in a throwaway Sphinx project built for real."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXTENSION = textwrap.dedent(
    '''
    from doozer import Extension
    from doozer.cli import register_commands


    def rummage(heap: "the heap to rummage through", *, depth: int = 2, verbose=None):
        """Look for lost things in a heap."""


    def sort(pile="compost"):
        """Sort a pile into radishes and everything else."""


    class Doozers(Extension):
        """Adds the doozers commands."""

        def register_cli(self):
            register_commands("doozers", [rummage, sort])


    class Silent(Extension):
        """An extension without commands."""
    '''
)


def build(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Build a Sphinx project whose index page is *body*; return the result and HTML."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "doozers_ext.py").write_text(EXTENSION)
    (source / "conf.py").write_text(
        "import sys, pathlib\n"
        "sys.path.insert(0, str(pathlib.Path(__file__).parent))\n"
        "extensions = ['doozer.contrib.sphinx']\n"
    )
    (source / "index.rst").write_text(f"Commands\n========\n\n{body}\n")
    output = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-W", "-q", "-b", "html", str(source), str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    index = output / "index.html"
    return result, index.read_text() if index.exists() else ""


@pytest.mark.slow
def test_documents_the_extension_commands(tmp_path: Path) -> None:
    result, html = build(tmp_path, ".. doozercli:: doozers_ext:Doozers")
    assert result.returncode == 0, result.stderr
    # The default prog, with the namespace and each command.
    assert "doozer --app APP_PATH doozers" in html
    assert "doozer --app APP_PATH doozers rummage" in html
    assert "doozer --app APP_PATH doozers sort" in html
    # Arguments and their help texts, and the commands' docstrings.
    assert "the heap to rummage through" in html
    assert "--depth" in html
    assert "--verbose" in html
    assert "Look for lost things in a heap." in html
    assert "Sort a pile into radishes and everything else." in html
    # Only the extension's namespace, not the built-in run command.
    assert "doozer --app APP_PATH run" not in html


@pytest.mark.slow
def test_autoprogram_options_pass_through(tmp_path: Path) -> None:
    body = ".. doozercli:: doozers_ext:Doozers\n   :prog: python -m doozer -a svc\n"
    body += "   :start_command: doozers sort\n"
    result, html = build(tmp_path, body)
    assert result.returncode == 0, result.stderr
    assert "python -m doozer -a svc doozers sort" in html
    assert "rummage" not in html


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("no_such_module:Doozers", "doozercli: cannot import 'no_such_module:Doozers'"),
        ("doozers_ext:Nope", "doozercli: cannot import 'doozers_ext:Nope'"),
        ("doozers_ext", "doozercli: 'doozers_ext' is not an extension path"),
        ("doozers_ext:Silent", "doozercli: 'doozers_ext:Silent' has no register_cli() method"),
    ],
)
def test_bad_paths_fail_the_build(tmp_path: Path, target: str, complaint: str) -> None:
    result, _ = build(tmp_path, f".. doozercli:: {target}")
    assert result.returncode != 0
    assert complaint in result.stderr
    assert "index.rst" in result.stderr


def test_setup_registers_the_directive() -> None:
    from doozer.contrib.sphinx import DoozerCLIDirective, DoozerSettingsDirective, setup

    calls: list[tuple[str, object]] = []

    class FakeSphinx:
        def setup_extension(self, name: str) -> None:
            calls.append(("extension", name))

        def add_directive(self, name: str, directive: object) -> None:
            calls.append(("directive", (name, directive)))

        def connect(self, event: str, callback: object) -> None:
            calls.append(("connect", event))

        def add_css_file(self, filename: str) -> None:
            calls.append(("css", filename))

    metadata = setup(FakeSphinx())  # type: ignore[arg-type]
    assert calls == [
        ("extension", "sphinxcontrib.autoprogram"),
        ("directive", ("doozercli", DoozerCLIDirective)),
        ("directive", ("doozersettings", DoozerSettingsDirective)),
        ("connect", "config-inited"),
        ("css", "doozer-sphinx.css"),
    ]
    assert metadata["parallel_read_safe"] is True
    assert metadata["parallel_write_safe"] is True
