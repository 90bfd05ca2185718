"""The doozersettings directive, in a throwaway Sphinx project built for real."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from doozer.contrib.sphinx._settings import import_path, show_default

EXTENSIONS = textwrap.dedent(
    '''
    from doozer import Extension


    class Trash(Exception):
        """What a fraggle throws away."""


    class Fraggle(Extension):
        DEFAULT_SETTINGS = {
            "FRAGGLE_URL": "amqp://gobo:radish@rock/",
            "FRAGGLE_TOKEN": "hush",
            "FRAGGLE_DEPTH": 3,
            "FRAGGLE_JUNK": Trash,
        }
        REQUIRED_SETTINGS = ("FRAGGLE_HOME",)
        OPTIONAL_SETTINGS = ("FRAGGLE_MOOD",)
        SETTINGS_DOCS = {
            "FRAGGLE_HOME": "The rock the fraggle *lives* in.",
            "FRAGGLE_URL": "Where the doozers are, as ``amqp://...``.",
            "FRAGGLE_TOKEN": "The password of the rock.",
            "FRAGGLE_DEPTH": "How deep to dig.\\n\\nA second paragraph, same cell.",
            "FRAGGLE_JUNK": "What is thrown away.",
            "FRAGGLE_MOOD": "How it feels; unset: happy.",
        }


    class Quiet(Extension):
        """Reads no settings."""


    class Forgetful(Extension):
        DEFAULT_SETTINGS = {"FORGOT_THIS": 1, "AND_THAT": 2}
        SETTINGS_DOCS = {"AND_THAT": "Documented."}


    class Dreamer(Extension):
        SETTINGS_DOCS = {"NEVER_READ": "Documented, never declared."}


    class Mumbler(Extension):
        DEFAULT_SETTINGS = {"MUMBLE": 1}
        SETTINGS_DOCS = {"MUMBLE": "  "}


    class NotAnExtension:
        DEFAULT_SETTINGS = {"X": 1}
    '''
)


def build(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Build a Sphinx project whose index page is *body*; return the result and HTML."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "fraggles.py").write_text(EXTENSIONS)
    (source / "conf.py").write_text(
        "import sys, pathlib\n"
        "sys.path.insert(0, str(pathlib.Path(__file__).parent))\n"
        "extensions = ['doozer.contrib.sphinx']\n"
    )
    (source / "index.rst").write_text(f"Settings\n========\n\n{body}\n")
    output = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html"]
    result = subprocess.run(
        [*command, str(source), str(output)], capture_output=True, text=True, check=False
    )
    index = output / "index.html"
    return result, index.read_text() if index.exists() else ""


def rows(page: str) -> list[list[str]]:
    """The table's rows, each a list of its cells' text."""
    found = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        found.append([" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return found


@pytest.mark.slow
def test_renders_name_default_and_meaning(tmp_path: Path) -> None:
    result, page = build(tmp_path, ".. doozersettings:: fraggles.Fraggle")
    assert result.returncode == 0, result.stderr
    assert rows(page) == [
        ["Setting", "Default", "Meaning"],
        ["FRAGGLE_HOME", "required", "The rock the fraggle lives in."],
        ["FRAGGLE_URL", "'amqp://gobo:***@rock/'", "Where the doozers are, as amqp://... ."],
        ["FRAGGLE_TOKEN", "***", "The password of the rock."],
        ["FRAGGLE_DEPTH", "3", "How deep to dig. A second paragraph, same cell."],
        ["FRAGGLE_JUNK", "fraggles.Trash", "What is thrown away."],
        ["FRAGGLE_MOOD", "not set", "How it feels; unset: happy."],
    ]
    # Secrets in defaults never reach the page.
    assert "radish" not in page
    assert "hush" not in page
    # The meaning is reStructuredText; the given widths reach the HTML; the style sheet too.
    assert "<em>lives</em>" in page
    assert re.findall(r'<col style="width: (\d+)(?:\.0)?%"', page) == ["28", "20", "52"]
    assert 'class="doozer-settings' in page
    assert "_static/doozer-sphinx.css" in page
    assert (tmp_path / "html" / "_static" / "doozer-sphinx.css").is_file()


@pytest.mark.slow
def test_colon_paths_modules_and_widths(tmp_path: Path) -> None:
    body = (
        ".. doozersettings:: fraggles:Fraggle\n   :widths: 25 15 60\n\n"
        ".. doozersettings:: doozer.base\n\n"
        ".. doozersettings:: fraggles.Quiet\n"
    )
    result, page = build(tmp_path, body)
    assert result.returncode == 0, result.stderr
    assert re.findall(r'<col style="width: (\d+)(?:\.0)?%"', page)[:3] == ["25", "15", "60"]
    table = rows(page)
    assert [row[:2] for row in table[7:]] == [
        ["Setting", "Default"],
        ["DEBUG", "False"],
        ["SHUTDOWN_TIMEOUT", "30"],
        ["ORDERING_RETRIES", "not set"],
    ]
    assert "Quiet reads no settings." in page


@pytest.mark.slow
def test_bad_targets_fail_the_build_naming_them(tmp_path: Path) -> None:
    complaints = {
        "no_such_module.Fraggle": "doozersettings: cannot import 'no_such_module.Fraggle'",
        "fraggles.Nope": "doozersettings: cannot import 'fraggles.Nope'",
        "fraggles:Nope": "doozersettings: cannot import 'fraggles:Nope'",
        "fraggles.NotAnExtension": "'fraggles.NotAnExtension' has no SETTINGS_DOCS",
        "fraggles.Forgetful": "SETTINGS_DOCS does not explain: FORGOT_THIS",
        "fraggles.Dreamer": "does not declare in DEFAULT_SETTINGS, REQUIRED_SETTINGS or "
        "OPTIONAL_SETTINGS: NEVER_READ",
        "fraggles.Mumbler": "empty meaning in SETTINGS_DOCS for: MUMBLE",
    }
    body = "\n\n".join(f".. doozersettings:: {target}" for target in complaints)
    body += "\n\n.. doozersettings:: fraggles.Fraggle\n   :widths: 50 50\n"
    result, _ = build(tmp_path, body)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "doozersettings" in line]
    for complaint in complaints.values():
        assert [line for line in errors if complaint in line and "index.rst" in line], complaint
    assert ":widths: needs 3 numbers (Setting, Default, Meaning), got 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_path_forms() -> None:
    import doozer.base
    from doozer.extensions import Extension

    assert import_path("doozer.extensions.Extension") is Extension
    assert import_path("doozer.extensions:Extension") is Extension
    assert import_path("doozer.base") is doozer.base
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        import_path("doozer.extensions.Nope")
    with pytest.raises(ImportError):
        import_path("no_such_module_at_all.Thing")


def test_import_path_reports_a_module_that_fails_to_import(tmp_path: Path) -> None:
    (tmp_path / "broken_fraggle.py").write_text("import no_such_dependency_here\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="no_such_dependency_here"):
            import_path("broken_fraggle.Fraggle")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("broken_fraggle", None)


def test_show_default_is_python_source_without_secrets() -> None:
    assert show_default("X_TIMEOUT", 30) == "30"
    assert show_default("X_NAME", "topic") == "'topic'"
    assert show_default("X_KEYS", ("#",)) == "('#',)"
    assert show_default("X_URL", "redis://:pw@host/0") == "'redis://:***@host/0'"
    assert show_default("X_PASSWORD", "pw") == "***"
    assert show_default("X_PASSWORD", None) == "None"
    assert show_default("X_ROUTING_KEY", "a.b") == "'a.b'"
    assert show_default("X_ERRORS", ValueError) == "builtins.ValueError"
