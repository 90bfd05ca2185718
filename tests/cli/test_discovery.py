"""Finding the application: every way it can work, and one clear line for every way it cannot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import Process

# A module with one application and a few things that are not applications.
SERVICE = """
    from doozer import Abort, Application


    class Empty:
        async def read(self):
            raise Abort("consumer.empty", None)


    async def callback(app, message):
        pass


    async def hello(app):
        print("running", app.name, flush=True)


    def make(name="made"):
        app = Application(name, consumer=Empty(), callback=callback)
        app.startup(hello)
        return app


    def make_with_args(name, settings):
        return make(name)


    def make_number():
        return 42


    def make_broken():
        raise LookupError("no such tenant")


    NUMBER = 42
    app = make("service")
"""

SEVERAL = """
    from service import make

    first = make("first")
    second = make("second")
    also_first = first  # one application under two names is still one
"""


@pytest.fixture(autouse=True)
def _modules(write: Callable[[str, str], Path]) -> None:
    write("service.py", SERVICE)
    write("several.py", SEVERAL)
    write("plain.py", "VALUE = 1\n")
    write("aliased.py", "from service import app\napplication = app\n")
    write("pkg/__init__.py", "")
    write("pkg/inner.py", "from service import make\nqueue = make('inner')\n")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("service", "service"),
        ("service:app", "service"),
        ("service:make", "made"),
        ("several:second", "second"),
        ("aliased", "service"),
        ("pkg.inner", "inner"),
        ("pkg.inner:queue", "inner"),
    ],
)
def test_finds_the_application(run_doozer: Callable[..., Process], path: str, name: str) -> None:
    result = run_doozer("run", path)
    assert result.returncode == 0, result.output("stderr")
    assert result.stdout == [f"running {name}"]
    # At the default verbosity (INFO) it says it started and stopped, and nothing else.
    assert [line.split(": ", 1)[1] for line in result.stderr] == [
        f"Started {name!r} with 1 worker(s), consuming from " + line.split("consuming from ")[1]
        for line in result.stderr[:1]
    ] + [f"Stopped {name!r} after 0 message(s): the consumer ended consumption"]


FIX = "run doozer from the directory that contains it, or check the spelling"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("run", "nosuch"), f"no module named 'nosuch': {FIX}"),
        (("run", "nosuch.inner"), f"no module named 'nosuch' (needed for 'nosuch.inner'): {FIX}"),
        (("run", "pkg.nosuch"), f"no module named 'pkg.nosuch': {FIX}"),
        (
            ("run", "service:nope"),
            "module 'service' has no attribute 'nope': use one of: service:app",
        ),
        (
            ("run", "several:third"),
            "module 'several' has no attribute 'third': use one of: several:first, several:second",
        ),
        (
            ("run", "plain:app"),
            "module 'plain' has no attribute 'app': it defines no Application; "
            "check the name in 'plain'",
        ),
        (
            ("run", "service:NUMBER"),
            "'service:NUMBER' is an int (42), not a doozer Application: "
            "point it at an Application or at a function that returns one",
        ),
        (
            ("run", "service:Empty"),
            "'service:Empty' returned an Empty object, "
            "not a doozer Application: the factory must return an Application",
        ),
        (
            ("run", "plain"),
            "no Application found in module 'plain': create one there, "
            "or name a function that returns one with plain:FUNCTION",
        ),
        (
            ("run", "several"),
            "module 'several' has several Applications (first, second): "
            "pick one with several:first",
        ),
        (
            ("run", "service:make_with_args"),
            "'service:make_with_args' is a function (make_with_args) that needs arguments "
            "(name, settings): name an Application, or a factory that takes no arguments",
        ),
        (
            ("run", "service:make_number"),
            "'service:make_number' returned an int (42), not a doozer Application: "
            "the factory must return an Application",
        ),
        (
            ("run", "service.py"),
            "'service.py' is a file path, not a module: pass the module name, e.g. 'service', "
            "from the directory that contains it",
        ),
        (
            ("run", "./pkg/inner.py:queue"),
            "'./pkg/inner.py:queue' is a file path, not a module: pass the module name, "
            "e.g. 'pkg.inner:queue', from the directory that contains it",
        ),
        (
            ("run", "service:"),
            "invalid application path 'service:': write MODULE or MODULE:NAME, e.g. 'service:app'",
        ),
        (
            ("run", "a:b:c"),
            "invalid application path 'a:b:c': write MODULE or MODULE:NAME, e.g. 'service:app'",
        ),
        (("--app", "nosuch", "fraggle", "trash"), f"no module named 'nosuch': {FIX}"),
        (
            ("fraggle", "trash"),
            "unknown command 'fraggle' (choose from run); commands added by extensions need "
            "the application first: doozer --app APP_PATH fraggle ...",
        ),
        (
            ("--app", "service", "fraggle", "trash"),
            None,  # the application was found, but it adds no such command: argparse says so
        ),
    ],
)
def test_every_failure_is_one_line_and_exit_2(
    run_doozer: Callable[..., Process], arguments: tuple[str, ...], message: str | None
) -> None:
    result = run_doozer(*arguments)
    assert result.returncode == 2
    assert "Traceback" not in result.output("stderr")
    assert result.output("stdout") == ""
    if message is None:
        assert result.stderr[-1].startswith(
            "doozer: error: argument {run}: invalid choice: 'fraggle' (choose from 'run')"
        )
        return
    assert result.output("stderr") == "doozer: error: " + message


def test_an_import_error_inside_the_users_module_is_theirs(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write(
        "needy.py",
        """
        import doozer

        import a_dependency_that_is_not_installed
        """,
    )
    result = run_doozer("run", "needy")
    assert result.returncode == 1
    assert result.stderr[0] == "Traceback (most recent call last):"
    assert 'needy.py", line 4, in <module>' in result.output("stderr")
    assert result.stderr[-1] == (
        "ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed'"
    )
    # Only the user's frames: not doozer's, not the import machinery's.
    assert "importlib" not in result.output("stderr")
    assert "doozer/cli" not in result.output("stderr")
    assert "no module named 'needy'" not in result.output("stderr")


def test_a_syntax_error_in_the_users_module_is_shown_as_python_would(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write("typo.py", "from doozer import Application\napp = Application('typo'\n")
    result = run_doozer("run", "typo")
    assert result.returncode == 1
    assert 'typo.py", line 2' in result.output("stderr")
    assert result.stderr[-1].startswith("SyntaxError:")
    assert "doozer/cli" not in result.output("stderr")


def test_an_error_raised_by_a_factory_is_the_users(run_doozer: Callable[..., Process]) -> None:
    result = run_doozer("run", "service:make_broken")
    assert result.returncode == 1
    assert result.stderr[0] == "Traceback (most recent call last):"
    assert "in make_broken" in result.output("stderr")
    assert result.stderr[-1] == "LookupError: no such tenant"
    assert "doozer/cli" not in result.output("stderr")
