"""``doozer run`` in real processes: running, exit codes, logging, workers, debug, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import Process

# An application over a finite consumer: prints each message, then teardown.
COUNTING = """
    import asyncio
    import os

    from doozer import Abort, Application


    class Numbers:
        def __init__(self, count):
            self.n = 0
            self.count = count

        async def read(self):
            self.n += 1
            if self.n > self.count:
                raise Abort("consumer.done", None)
            return self.n


    async def callback(app, message):
        print("got", message, flush=True)


    app = Application("counting", consumer=Numbers(3), callback=callback)


    @app.startup
    async def startup(app):
        loop = asyncio.get_running_loop()
        print("debug", app.settings["DEBUG"], loop.get_debug(), flush=True)


    @app.teardown
    async def teardown(app):
        print("teardown", flush=True)
"""


def test_runs_the_single_application_until_its_consumer_ends(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write("service.py", COUNTING)
    result = run_doozer("run", "service")
    assert result.returncode == 0, result.output("stderr")
    assert result.stdout == ["debug False False", "got 1", "got 2", "got 3", "teardown"]
    # INFO by default: one line when it started, one when it stopped, with the counts.
    assert len(result.stderr) == 2, result.stderr
    assert (
        " INFO     counting: Started 'counting' with 1 worker(s), consuming from "
        in (result.stderr[0])
    )
    assert result.stderr[1].endswith(
        "INFO     counting: Stopped 'counting' after 3 message(s) (3 succeeded): "
        "the consumer ended consumption"
    )


def test_the_console_script_is_the_same_program(
    write: Callable[[str, str], Path], tmp_path: Path
) -> None:
    write("service.py", COUNTING)
    script = Path(sys.executable).with_name("doozer")
    assert script.exists(), "the doozer console script is not installed"
    result = subprocess.run(
        [str(script), "run", "service"], cwd=tmp_path, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["got 1", "got 2", "got 3", "teardown"]


def test_an_unhandled_exception_exits_1_and_is_reported_once(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write(
        "broken.py",
        """
        from doozer import Application


        class Broken:
            async def read(self):
                raise RuntimeError("the broker went away\\nsecond line")


        async def callback(app, message):
            pass


        app = Application("broken", consumer=Broken(), callback=callback)


        @app.teardown
        async def teardown(app):
            print("teardown", flush=True)
        """,
    )
    result = run_doozer("run", "broken")
    assert result.returncode == 1
    assert result.stdout == ["teardown"]  # it stopped gracefully
    # Logged once by the application, with its traceback; then one summary line.
    assert result.output("stderr").count("Traceback") == 1
    assert result.output("stderr").count("RuntimeError: the broker went away") == 2
    assert result.stderr[-1] == (
        "doozer: error: the application 'broken' stopped: RuntimeError: the broker went away"
    )


def test_an_application_that_cannot_run_is_one_line_and_exit_1(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write("lonely.py", "from doozer import Application\napp = Application('lonely')\n")
    result = run_doozer("run", "lonely")
    assert result.returncode == 1
    # The core's own message, on one line (it was never logged: nothing ran).
    [line] = result.stderr
    assert line.startswith("doozer: error: the application 'lonely' stopped: TypeError: ")
    assert "has no consumer" in line


VERBOSITY = """
    import logging

    from doozer import Abort, Application

    print("level", logging.getLogger().getEffectiveLevel(), flush=True)
    logging.getLogger("verbosity").info("an info message at import")
    logging.getLogger("verbosity").error("an error message at import")


    class Empty:
        async def read(self):
            raise Abort("consumer.empty", None)


    async def callback(app, message):
        pass


    app = Application("verbosity", consumer=Empty(), callback=callback)
"""


@pytest.mark.parametrize(
    ("flags", "level", "shown"),
    [
        ((), 20, ["an info message", "an error message"]),
        (("-v",), 10, ["an info message", "an error message"]),
        (("--verbose", "--verbose"), 10, ["an info message", "an error message"]),
        (("-q",), 30, ["an error message"]),
        (("-qq",), 40, ["an error message"]),
        (("-qqq",), 50, []),
        (("--quiet", "-qqq"), 51, []),
    ],
)
def test_verbosity_sets_the_log_level_before_the_import(
    write: Callable[[str, str], Path],
    run_doozer: Callable[..., Process],
    flags: tuple[str, ...],
    level: int,
    shown: list[str],
) -> None:
    write("service.py", VERBOSITY)
    result = run_doozer("run", "service", *flags)
    assert result.returncode == 0, result.output("stderr")
    assert result.stdout == [f"level {level}"]
    assert [
        line for line in ("an info message", "an error message") if line in result.output("stderr")
    ] == (shown)


def test_verbose_and_quiet_exclude_each_other(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write("service.py", VERBOSITY)
    result = run_doozer("run", "service", "-v", "-q")
    assert result.returncode == 2
    assert result.stderr[-1] == (
        "doozer run: error: argument --quiet/-q: not allowed with argument --verbose/-v"
    )
    assert result.output("stdout") == ""  # refused before the import


CONCURRENCY = """
    import asyncio

    from doozer import Abort, Application


    class Six:
        def __init__(self):
            self.n = 0

        async def read(self):
            self.n += 1
            if self.n > 6:
                raise Abort("consumer.done", None)
            return self.n


    active = 0
    most = 0


    async def callback(app, message):
        global active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.1)
        active -= 1


    app = Application("concurrency", consumer=Six(), callback=callback)


    @app.teardown
    async def report(app):
        print("at most", most, "at once", flush=True)
"""


@pytest.mark.parametrize(("flags", "expected"), [((), 1), (("-w", "3"), 3), (("--workers=6",), 6)])
def test_workers_process_that_many_messages_at_once(
    write: Callable[[str, str], Path],
    run_doozer: Callable[..., Process],
    flags: tuple[str, ...],
    expected: int,
) -> None:
    write("service.py", CONCURRENCY)
    result = run_doozer("run", "service", *flags)
    assert result.returncode == 0, result.output("stderr")
    assert result.stdout == [f"at most {expected} at once"]


@pytest.mark.parametrize("workers", ["0", "-2", "many", "1.5"])
def test_workers_must_be_a_positive_whole_number(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process], workers: str
) -> None:
    write("service.py", CONCURRENCY)
    result = run_doozer("run", "service", f"--workers={workers}")
    assert result.returncode == 2
    assert result.stderr[-1] == (
        f"doozer run: error: argument -w/--workers: expected a whole number of at least 1, "
        f"got {workers!r}"
    )


def test_debug_enables_debug_mode_and_the_reloader(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", COUNTING)
    process = doozer("run", "service", "--debug")
    process.wait_for_match("^teardown$")
    assert process.stdout[0] == "debug True True"
    # The consumer ended, but the supervisor stays for the next change.
    process.wait_for_match("exited with status 0; waiting for a change", stream="stderr")
    assert process.returncode is None
    process.signal(signal.SIGTERM)
    assert process.finish() == 0


DRAINING = """
    import asyncio
    import os

    from doozer import Application


    class OneThenNothing:
        def __init__(self):
            self.sent = False

        async def read(self):
            if self.sent:
                await asyncio.Event().wait()  # nothing more, ever
            self.sent = True
            return "the message"


    async def callback(app, message):
        print("started", message, flush=True)
        await asyncio.sleep(0.5)
        print("finished", message, flush=True)


    app = Application("draining", consumer=OneThenNothing(), callback=callback)


    @app.teardown
    async def teardown(app):
        print("teardown", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_message_in_flight_and_exits_0(
    write: Callable[[str, str], Path], doozer: Callable[..., Process], signum: signal.Signals
) -> None:
    write("service.py", DRAINING)
    process = doozer("run", "service", "-v")
    process.wait_for_match("^started the message$")
    process.signal(signum)
    assert process.finish() == 0, process.output("stderr")
    assert process.stdout == ["started the message", "finished the message", "teardown"]
    assert f"Received {signum.name}: finishing the messages already read" in process.output(
        "stderr"
    )
    assert "Traceback" not in process.output("stderr")


def test_version_lists_the_installed_doozer_distributions(
    run_doozer: Callable[..., Process],
) -> None:
    from importlib.metadata import version

    result = run_doozer("--version")
    assert result.returncode == 0
    lines = result.stdout
    assert f"doozer-core {version('doozer-core')}" in lines
    assert f"doozer-cli {version('doozer-cli')}" in lines
    assert all(line.startswith("doozer") for line in lines)
    assert lines == sorted(lines)


def test_usage_lines_match_the_documented_interface(run_doozer: Callable[..., Process]) -> None:
    top = run_doozer("--help")
    assert top.returncode == 0
    assert top.stdout[0] == "usage: doozer [-h] [--version] [-a APP] {run} ..."
    run = run_doozer("run", "--help")
    assert run.returncode == 0
    usage = " ".join(line.strip() for line in run.output("stdout").split("\n\n")[0].splitlines())
    assert usage == (
        "usage: doozer run [-h] [--verbose | --quiet] [-r] [-w WORKERS] [-d] [--processes N] "
        "[--max-messages-per-child M] [--log-format {json,console}] "
        "[--ordering-key MODULE:FUNCTION] [--reload-dir DIR] "
        "[--reload-include GLOB] [--reload-exclude GLOB] application-path"
    )


def test_no_command_is_a_usage_error(run_doozer: Callable[..., Process]) -> None:
    result = run_doozer()
    assert result.returncode == 2
    assert result.stderr[-1] == ("doozer: error: the following arguments are required: {run}")


def test_log_format_json_logs_one_object_per_line_on_stdout(
    write: Callable[[str, str], Path], run_doozer: Callable[..., Process]
) -> None:
    write("service.py", COUNTING)
    result = run_doozer("run", "service", "--log-format", "json")
    assert result.returncode == 0, result.output("stderr")
    records = [json.loads(line) for line in result.stdout if line.startswith("{")]
    events = [record["event"] for record in records]
    assert events[0].startswith("Started 'counting' with 1 worker(s)")
    assert events[-1] == (
        "Stopped 'counting' after 3 message(s) (3 succeeded): the consumer ended consumption"
    )
    assert {record["level"] for record in records} == {"info"}
    assert all(record["logger"] == "counting" for record in records)


def test_log_format_must_be_known(run_doozer: Callable[..., Process]) -> None:
    result = run_doozer("run", "service", "--log-format", "xml")
    assert result.returncode == 2
    assert result.stderr[-1] == (
        "doozer run: error: argument --log-format: invalid choice: 'xml' "
        "(choose from 'json', 'console')"
    )
