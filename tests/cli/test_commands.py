# The registered functions' signatures are what these tests are about:
# unannotated parameters and help texts written as string annotations are
# part of the interface under test, so mypy's rules for them are off here.
# mypy: disable-error-code="no-untyped-def, valid-type"
"""register_commands(): how a function's signature becomes a command line.

In-process tests on the module-level parser (the autouse ``_restore_parser``
fixture removes what each test registers), plus one real process for an
extension's commands.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import doozer.cli
from doozer import Application
from doozer.cli import main, register_commands
from doozer.cli.commands import add_commands
from tests.support.processes import Process

Calls = list[tuple[str, Any]]


@pytest.fixture
def calls() -> Calls:
    return []


@pytest.fixture
def importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Callable[[str, str], Path]
) -> Iterator[Callable[[str, str], Path]]:
    """Write modules that ``--app`` can import in this process; forget them afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def usage(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status, out, _ = run(capsys, *argv, "--help")
    assert status == 0
    return " ".join(line.strip() for line in out.split("\n\n")[0].splitlines())


# -- positional parameters ------------------------------------------------


def test_a_positional_parameter_is_a_required_argument(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(heap):
        calls.append(("heap", heap))

    register_commands("fraggle", [trash])
    assert run(capsys, "fraggle", "trash", "marjory") == (0, "", "")
    assert calls == [("heap", "marjory")]
    status, _, err = run(capsys, "fraggle", "trash")
    assert status == 2
    assert err.splitlines()[-1] == (
        "doozer fraggle trash: error: the following arguments are required: heap"
    )
    assert usage(capsys, "fraggle", "trash") == "usage: doozer fraggle trash [-h] heap"


def test_a_parameter_with_a_default_is_an_optional_positional(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(heap="marjory"):
        calls.append(("heap", heap))

    register_commands("fraggle", [trash])
    assert run(capsys, "fraggle", "trash")[0] == 0
    assert run(capsys, "fraggle", "trash", "junk")[0] == 0
    assert calls == [("heap", "marjory"), ("heap", "junk")]
    assert usage(capsys, "fraggle", "trash") == "usage: doozer fraggle trash [-h] [heap]"


def test_star_args_take_any_number_of_values(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(first, *rest: int):
        calls.append((first, rest))

    register_commands("fraggle", [trash])
    assert run(capsys, "fraggle", "trash", "a", "1", "2")[0] == 0
    assert run(capsys, "fraggle", "trash", "b")[0] == 0
    assert calls == [("a", (1, 2)), ("b", ())]


# -- keyword-only parameters ----------------------------------------------


def test_keyword_only_parameters_are_options_with_short_flags_when_unambiguous(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(*, heap="marjory", max_size=10, speed=1.5, size_hint="", gorg=None):
        calls.append(("kw", (heap, max_size, speed, size_hint, gorg)))

    register_commands("fraggle", [trash])
    # heap: -h is help; speed and size-hint share "s"; max-size and gorg are alone.
    assert usage(capsys, "fraggle", "trash") == (
        "usage: doozer fraggle trash [-h] [--heap HEAP] [-m MAX_SIZE] [--speed SPEED] "
        "[--size-hint SIZE_HINT] [-g GORG]"
    )
    assert run(capsys, "fraggle", "trash")[0] == 0
    assert (
        run(capsys, "fraggle", "trash", "--heap", "junk", "-m", "3", "--speed=2", "-g", "x")[0] == 0
    )
    assert calls == [
        ("kw", ("marjory", 10, 1.5, "", None)),
        ("kw", ("junk", 3, 2.0, "", "x")),
    ]


def test_a_keyword_only_parameter_without_default_is_a_required_option(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(*, heap):
        calls.append(("heap", heap))

    register_commands("fraggle", [trash])
    status, _, err = run(capsys, "fraggle", "trash")
    assert status == 2
    assert err.splitlines()[-1] == (
        "doozer fraggle trash: error: the following arguments are required: --heap"
    )
    assert run(capsys, "fraggle", "trash", "--heap=junk")[0] == 0
    assert calls == [("heap", "junk")]


def test_boolean_options_are_switches(capsys: pytest.CaptureFixture[str], calls: Calls) -> None:
    def sync(*, dry_run=False, verify=True, force: bool):
        calls.append(("sync", (dry_run, verify, force)))

    register_commands("fraggle", [sync])
    assert run(capsys, "fraggle", "sync")[0] == 0
    assert run(capsys, "fraggle", "sync", "-d", "--no-verify", "--force")[0] == 0
    assert run(capsys, "fraggle", "sync", "--verify")[0] == 0
    assert calls == [
        ("sync", (False, True, False)),
        ("sync", (True, False, True)),
        ("sync", (False, True, False)),
    ]


# -- quiet and verbose ----------------------------------------------------


def test_quiet_and_verbose_are_counting_flags_none_when_absent(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(heap, quiet, *, verbose=0):
        calls.append((heap, (quiet, verbose)))

    register_commands("fraggle", [trash])
    assert run(capsys, "fraggle", "trash", "a")[0] == 0
    assert run(capsys, "fraggle", "trash", "b", "-vvvv")[0] == 0
    assert run(capsys, "fraggle", "trash", "c", "--quiet", "-q")[0] == 0
    assert calls == [("a", (None, None)), ("b", (None, 4)), ("c", (2, None))]
    status, _, err = run(capsys, "fraggle", "trash", "d", "-q", "-v")
    assert status == 2
    assert err.splitlines()[-1] == (
        "doozer fraggle trash: error: argument -v/--verbose: not allowed with argument -q/--quiet"
    )
    assert usage(capsys, "fraggle", "trash") == ("usage: doozer fraggle trash [-h] [-q | -v] heap")


def test_a_lone_verbose_flag_is_not_exclusive_and_blocks_its_initial(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(*, verbose, value=1):
        calls.append(("trash", (verbose, value)))

    register_commands("fraggle", [trash])
    assert usage(capsys, "fraggle", "trash") == (
        "usage: doozer fraggle trash [-h] [-v] [--value VALUE]"
    )
    assert run(capsys, "fraggle", "trash", "-vv", "--value", "5")[0] == 0
    assert calls == [("trash", (2, 5))]


def test_functions_without_quiet_or_verbose_never_receive_them(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(heap):
        calls.append(("heap", heap))

    def noisy(verbose):
        calls.append(("verbose", verbose))

    register_commands("fraggle", [trash, noisy])
    assert run(capsys, "fraggle", "noisy", "-v")[0] == 0
    assert run(capsys, "fraggle", "trash", "x")[0] == 0  # called as trash("x"): nothing else
    status, _, err = run(capsys, "fraggle", "trash", "x", "-v")
    assert status == 2
    assert err.splitlines()[-1] == "doozer: error: unrecognized arguments: -v"
    assert calls == [("verbose", 1), ("heap", "x")]


# -- annotations, defaults and docstrings ---------------------------------


def test_annotations_are_help_or_converters(
    capsys: pytest.CaptureFixture[str], calls: Calls
) -> None:
    def trash(
        count: int,
        heap: "the heap to trash",
        ratio: float = 0.5,
        *,
        where: Path = Path("/tmp"),
        limit: int | None = None,
        times=3,
    ):
        calls.append(("trash", (count, heap, ratio, where, limit, times)))

    register_commands("fraggle", [trash])
    assert run(capsys, "fraggle", "trash", "7", "marjory")[0] == 0
    assert (
        run(capsys, "fraggle", "trash", "1", "x", "2.5", "-w", "/srv", "-l", "9", "--times", "4")[0]
        == 0
    )
    assert calls == [
        ("trash", (7, "marjory", 0.5, Path("/tmp"), None, 3)),
        ("trash", (1, "x", 2.5, Path("/srv"), 9, 4)),
    ]
    status, out, _ = run(capsys, "fraggle", "trash", "--help")
    assert "the heap to trash" in out
    assert "default: 0.5" in out
    status, _, err = run(capsys, "fraggle", "trash", "seven", "x")
    assert status == 2
    assert err.splitlines()[-1] == (
        "doozer fraggle trash: error: argument count: invalid int value: 'seven'"
    )


@pytest.mark.parametrize("future", ["from __future__ import annotations", ""])
def test_string_annotations_are_help_with_or_without_postponed_evaluation(
    importable: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str], future: str
) -> None:
    # Under the __future__ import every annotation is a string: "int" must
    # still convert, and only a string literal is help.
    module = "postponed" if future else "eager"
    importable(
        f"{module}.py",
        f"""
        {future}
        import pathlib

        SEEN = []


        def trash(count: int, heap: "the heap to trash", *, where: pathlib.Path | None = None):
            SEEN.append((count, heap, where))
        """,
    )
    trash = importlib.import_module(module).trash
    register_commands("fraggle", [trash])
    assert run(capsys, "fraggle", "trash", "3", "junk", "--where", "/srv")[0] == 0
    assert [(3, "junk", Path("/srv"))] == sys.modules[module].SEEN
    assert "the heap to trash" in run(capsys, "fraggle", "trash", "--help")[1]


def test_an_annotation_that_cannot_be_evaluated_is_one_clear_error(
    importable: Callable[[str, str], Path],
) -> None:
    importable(
        "unresolved.py",
        """
        from __future__ import annotations

        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from decimal import Decimal


        def trash(amount: Decimal):
            pass
        """,
    )
    trash = importlib.import_module("unresolved").trash
    with pytest.raises(TypeError) as caught:
        register_commands("fraggle", [trash])
    assert str(caught.value) == (
        "cannot evaluate the annotation 'Decimal' of parameter 'amount' of 'fraggle trash' "
        "(name 'Decimal' is not defined): make the name importable at run time, "
        "or use a help string"
    )


def test_the_docstring_is_the_commands_help(capsys: pytest.CaptureFixture[str]) -> None:
    def trash_heap(heap):
        """Trash a heap.

        Nothing is left of it afterwards: 100% gone.
        """

    register_commands(
        "fraggle", [trash_heap], namespace_kwargs={"help": "Fraggle Rock maintenance"}
    )
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "{run,fraggle}" in out
    assert "Fraggle Rock maintenance" in out
    status, out, _ = run(capsys, "fraggle", "--help")
    assert "trash-heap" in out
    assert "Trash a heap." in out
    status, out, _ = run(capsys, "fraggle", "trash-heap", "--help")
    assert "Nothing is left of it afterwards: 100% gone." in out


def test_func_kwargs_go_to_every_command_parser(capsys: pytest.CaptureFixture[str]) -> None:
    def one():
        """One."""

    def two():
        """Two."""

    register_commands("fraggle", [one, two], func_kwargs={"epilog": "See the Fraggle docs."})
    assert "See the Fraggle docs." in run(capsys, "fraggle", "one", "--help")[1]
    assert "See the Fraggle docs." in run(capsys, "fraggle", "two", "--help")[1]


# -- return values, coroutines, the application ---------------------------


def test_return_values_and_coroutine_functions(capsys: pytest.CaptureFixture[str]) -> None:
    def status(code: int):
        return code

    def report():
        return "all heaps trashed"

    async def wait(delay: float):
        await asyncio.sleep(delay)
        return 3

    register_commands("fraggle", [status, report, wait])
    assert run(capsys, "fraggle", "status", "5") == (5, "", "")
    assert run(capsys, "fraggle", "report") == (0, "all heaps trashed\n", "")
    assert run(capsys, "fraggle", "wait", "0.01") == (3, "", "")


EXTENDED = """
    from doozer import Application, Extension
    from doozer.cli import register_commands


    def show(app, heap="marjory", *, verbose=None):
        '''Show an application's heap.'''
        print("show", app.name, heap, verbose)


    class Fraggle(Extension):
        def register_cli(self):
            register_commands("fraggle", [show], namespace_kwargs={"help": "Fraggle commands"})


    app = Application("{name}")
    Fraggle(app)
"""


def test_a_parameter_named_app_receives_the_application(
    importable: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    importable("extended.py", EXTENDED.replace("{name}", "rock"))
    assert run(capsys, "--app", "extended", "fraggle", "show", "-vv") == (
        0,
        "show rock marjory 2\n",
        "",
    )
    # Already registered, so without --app: the command says what it needs.
    status, out, err = run(capsys, "fraggle", "show")
    assert (status, out) == (2, "")
    assert err == (
        "doozer: error: this command needs the application: doozer --app APP_PATH fraggle show\n"
    )


def test_an_extension_adds_its_commands_through_app(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write("service.py", EXTENDED.replace("{name}", "service"))
    result = run_doozer("--app", "service", "fraggle", "show", "junk", "-v")
    assert result.returncode == 0, result.output("stderr")
    assert result.stdout == ["show service junk 1"]
    listing = run_doozer("-a", "service", "--help")
    assert listing.stdout[0] == "usage: doozer [-h] [--version] [-a APP] {run,fraggle} ..."
    assert "Fraggle commands" in listing.output("stdout")
    help_ = run_doozer("--app=service", "fraggle", "show", "--help")
    assert "Show an application's heap." in help_.output("stdout")
    assert "usage: doozer fraggle show [-h] [-v] [heap]" in help_.output("stdout")


# -- mistakes -------------------------------------------------------------


def test_a_single_function_instead_of_a_list_is_refused_clearly() -> None:
    def trash():
        pass

    with pytest.raises(TypeError) as caught:
        register_commands("fraggle", trash)  # type: ignore[arg-type]  # the mistake tested
    assert str(caught.value).endswith("write register_commands('fraggle', [trash])")


@pytest.mark.parametrize("namespace", ["", "-x", None])
def test_the_namespace_must_be_a_plain_name(namespace: Any) -> None:
    with pytest.raises(TypeError, match="the namespace must be a non-empty string"):
        register_commands(namespace, [print])


def test_run_is_not_a_namespace() -> None:
    with pytest.raises(ValueError, match="built-in") as caught:
        register_commands("run", [print])
    assert str(caught.value) == "'run' is a built-in doozer command: choose another namespace"


def test_a_name_clash_names_both_functions() -> None:
    def trash():
        pass

    register_commands("fraggle", [trash])
    register_commands("fraggle", [trash])  # the same function again: harmless

    def other():
        pass

    other.__name__ = "trash"
    with pytest.raises(ValueError, match="already registered") as caught:
        register_commands("fraggle", [other])
    here = f"{__name__}.test_a_name_clash_names_both_functions.<locals>"
    assert str(caught.value) == (
        f"the command 'fraggle trash' is already registered for {here}.trash: "
        f"register {here}.other under another name or namespace"
    )


def test_a_failed_registration_registers_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    def fine():
        pass

    def unfit(items: list[int] | dict[str, int]):
        pass

    with pytest.raises(TypeError, match="'items' of 'fraggle unfit'"):
        register_commands("fraggle", [fine, unfit])
    assert "fraggle" not in doozer.cli.parser.format_usage()
    status, _, err = run(capsys, "fraggle", "fine")
    assert status == 2
    assert err.startswith("doozer: error: unknown command 'fraggle'")


def test_commands_accumulate_in_a_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    def one():
        return 1

    def two():
        return 2

    register_commands("fraggle", [one])
    register_commands("fraggle", [two])
    assert run(capsys, "fraggle", "one")[0] == 1
    assert run(capsys, "fraggle", "two")[0] == 2


def test_add_commands_works_on_any_parser() -> None:
    seen: list[Any] = []

    def trash(app: Application, heap, *, count: int = 1):
        seen.append((app, heap, count))

    parser = argparse.ArgumentParser(prog="mine")
    add_commands(parser.add_subparsers(required=True), "fraggle", [trash])
    args = parser.parse_args(["fraggle", "trash", "marjory", "-c", "2"])
    app = Application("mine")
    assert args._doozer_handler(args, lambda: app) == 0
    assert seen == [(app, "marjory", 2)]


def test_registered_commands_do_not_leak_between_tests() -> None:
    # Runs after the tests above registered "fraggle" on the module parser.
    assert "fraggle" not in doozer.cli.parser.format_usage()
    assert doozer.cli.parser.format_usage() == "usage: doozer [-h] [--version] [-a APP] {run} ...\n"
