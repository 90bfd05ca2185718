"""``doozer run --processes N``: the supervisor, with real processes (no broker needed)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from doozer.cli import program
from doozer.cli.commands import HANDLER
from tests.support.processes import Process, alive, wait_until

# Runs until stopped. Says which process imported it, which child (pid)
# started and stopped, and its root logging level.
IDLE = """
    import asyncio
    import logging
    import os

    from doozer import Application

    # One write per line: the children share the test's pipe.
    print(f"imported by {os.getpid()}\\n", end="", flush=True)


    class Idle:
        async def read(self):
            await asyncio.Event().wait()


    async def callback(app, message):
        pass


    app = Application("idle", consumer=Idle(), callback=callback)


    def key(message):
        return None


    @app.startup
    async def startup(app):
        level = logging.getLogger().level
        index = os.environ.get("DOOZER_PROCESS_INDEX")
        pids = f"{os.getpid()} parent {os.getppid()}"
        print(f"started {pids} level {level} index {index}\\n", end="", flush=True)


    @app.teardown
    async def teardown(app):
        print(f"stopped {os.getpid()}\\n", end="", flush=True)
"""


def children(process: Process, count: int) -> list[int]:
    """Wait until *count* children started; return their pids."""
    process.wait_for_match(r"^started \d+", "stdout", count=count)
    return [int(line.split()[1]) for line in process.stdout if line.startswith("started ")]


def stopped(process: Process) -> list[int]:
    """The pids of the children whose teardown ran."""
    return [int(line.split()[1]) for line in process.stdout if line.startswith("stopped ")]


def slot_pid(process: Process, slot: int, count: int = 1) -> int:
    """The pid of the *count*-th child started in *slot* (from the supervisor's log, with -v)."""
    pattern = rf"Started child {slot} of \d+ \(pid (\d+)\)"
    return int(process.wait_for_match(pattern, "stderr", count=count)[1])


# -- every option reaches the children ----------------------------------------

#: A value other than the default for each ``run`` option. A new option
#: needs one here, or the test below fails and says so.
SAMPLES: dict[str, list[str]] = {
    "verbose": ["-vv"],  # needed to see the children's options: see QUIET below
    "quiet": [],
    "reloader": ["--reloader"],
    "debug": ["--debug"],
    "workers": ["-w", "3"],
    "processes": ["--processes", "2"],
    "max_messages_per_child": ["--max-messages-per-child", "7"],
    "reload_dir": ["--reload-dir", "code", "--reload-dir", "."],
    "reload_include": ["--reload-include", "*.txt", "--reload-include", "*.toml"],
    "reload_exclude": ["--reload-exclude", "build"],
    "ordering_key": ["--ordering-key", "service:key"],
    "log_format": ["--log-format", "console"],
    "application_path": ["service:app"],
}
# --quiet excludes --verbose: it is checked on its own, by its effect.
RELOADER_ONLY = {"reloader", "debug", "reload_dir", "reload_include", "reload_exclude"}


def run_parser() -> argparse.ArgumentParser:
    choices = program._subcommands.choices
    assert choices is not None
    return choices["run"]


def test_every_run_option_has_a_sample() -> None:
    options = {
        action.dest for action in run_parser()._actions if action.dest not in ("help", HANDLER)
    }
    missing = options - set(SAMPLES)
    assert not missing, f"add a non-default sample value for {sorted(missing)} to SAMPLES"
    assert set(SAMPLES) == options


@pytest.mark.parametrize("mode", ["reloader", "processes"])
def test_every_run_option_reaches_the_children(
    write: Callable[[str, str], Path], doozer: Callable[..., Process], mode: str
) -> None:
    write("service.py", IDLE)
    (write("code/notes.txt", "").parent).mkdir(exist_ok=True)
    used = [dest for dest in SAMPLES if mode == "reloader" or dest not in RELOADER_ONLY]
    argv = [word for dest in used for word in SAMPLES[dest]]
    expected = vars(program.parser.parse_args(["run", *argv]))  # as the supervisor parses them
    del expected[HANDLER]
    defaults = vars(program.parser.parse_args(["run", "service:app"]))
    for dest in used:  # else the test would prove nothing for it
        assert dest == "application_path" or not SAMPLES[dest] or expected[dest] != defaults[dest]

    supervisor = doozer("run", *argv)
    pids = children(supervisor, 2)
    received = {}
    for count in (1, 2):
        match = supervisor.wait_for_match(
            r"Child (\d) \(pid (\d+)\) runs with options (.*)$", "stderr", count=count
        )
        received[int(match[2])] = json.loads(match[3])
    assert sorted(received) == sorted(pids)
    for options in received.values():
        assert options == expected
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")


def test_quiet_reaches_the_children(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", IDLE)
    supervisor = doozer("run", "service", "--processes", "2", "-qqq")
    children(supervisor, 2)
    assert all("level 50 " in line for line in supervisor.stdout if "level" in line)
    supervisor.signal(signal.SIGINT)
    assert supervisor.finish() == 0
    assert supervisor.stderr == []  # -qqq silences the supervisor too


# -- the supervisor --------------------------------------------------------------


def test_the_supervisor_never_imports_the_application(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", IDLE)
    supervisor = doozer("run", "service", "--processes", "3", "-v")
    pids = children(supervisor, 3)
    importers = [int(line.split()[-1]) for line in supervisor.stdout if line.startswith("imported")]
    assert sorted(importers) == sorted(pids)
    assert supervisor.pid not in importers
    assert all(
        f"parent {supervisor.pid}" in line for line in supervisor.stdout if "started" in line
    )
    assert sorted(slot_pid(supervisor, slot) for slot in (1, 2, 3)) == sorted(pids)
    # Each knows its index (a slot's, from 0), as doozer-prometheus needs it.
    for slot in (1, 2, 3):
        pid = slot_pid(supervisor, slot)
        assert any(
            line.startswith(f"started {pid} ") and line.endswith(f" index {slot - 1}")
            for line in supervisor.stdout
        )
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert sorted(
        int(line.split()[1]) for line in supervisor.stdout if "stopped" in line
    ) == sorted(pids)


def test_processes_from_the_environment(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", IDLE)
    supervisor = doozer("run", "service", env={"DOOZER_PROCESSES": "2"})
    pids = children(supervisor, 2)
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert len(set(pids)) == 2


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        (
            ["--processes", "0"],
            {},
            "argument --processes: expected a whole number of at least 1, got '0'",
        ),
        (
            [],
            {"DOOZER_PROCESSES": "many"},
            "DOOZER_PROCESSES: expected a whole number of at least 1, got 'many'; "
            "set it to a number or unset it",
        ),
        (
            ["--reload-dir", "."],
            {},
            "--reload-dir is for the reloader: add --reloader, or drop --reload-dir",
        ),
        (
            ["-r", "--reload-dir", "nowhere"],
            {},
            "--reload-dir 'nowhere' is not a directory: check the path "
            "(relative paths start from the current directory)",
        ),
        (
            ["--max-messages-per-child", "-3"],
            {},
            "argument --max-messages-per-child: expected a whole number of at least 1, got '-3'",
        ),
    ],
    ids=["processes", "environment", "reload-dir-alone", "reload-dir-missing", "max-messages"],
)
def test_bad_options_are_one_line(
    write: Callable[[str, str], Path],
    doozer: Callable[..., Process],
    arguments: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    write("service.py", IDLE)
    result = doozer("run", "service", *arguments, env=env)
    assert result.finish() == 2
    assert result.stderr[-1].endswith(message), result.stderr
    assert result.stdout == []  # nothing was started


def test_a_killed_child_is_restarted_and_the_others_keep_running(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", IDLE)
    supervisor = doozer("run", "service", "--processes", "2", "-v")
    children(supervisor, 2)
    first, second = (slot_pid(supervisor, slot) for slot in (1, 2))
    os.kill(first, signal.SIGKILL)
    supervisor.wait_for(f"Child 1 (pid {first}) was killed by SIGKILL", stream="stderr")
    supervisor.wait_for("Restarting child 1 in 0.25 s", stream="stderr")
    third = slot_pid(supervisor, 1, count=2)
    children(supervisor, 3)
    assert third not in (first, second)
    assert alive(second)
    assert f"stopped {second}" not in supervisor.stdout
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    for pid in (second, third):
        assert f"stopped {pid}" in supervisor.stdout


@pytest.mark.slow
def test_a_crash_loop_stops_everything_with_one_line(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    # It exits at once, every time, before it even looks for the application.
    write(
        "service.py",
        """
        import os

        print(f"started {os.getpid()}\\n", end="", flush=True)
        os._exit(3)
        """,
    )
    began = time.monotonic()
    supervisor = doozer("run", "service", "--processes", "2")
    assert supervisor.finish(timeout=60) == 1
    assert time.monotonic() - began < 30  # bounded: the backoff stays short in a loop
    assert supervisor.stderr[-1].startswith(
        "doozer: error: the application failed 5 times within 60 s (last: child "
    )
    assert supervisor.stderr[-1].endswith(
        "status 3); stopped every process; its own output above says why"
    )
    starts = [line for line in supervisor.stdout if line.startswith("started")]
    assert 5 <= len(starts) <= 6  # the fifth failure stops the other child
    assert "Traceback" not in supervisor.output("stderr")


def test_a_second_signal_stops_at_once(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write(
        "service.py",
        """
        import asyncio
        import os

        from doozer import Application


        class Once:
            def __init__(self):
                self.sent = False

            async def read(self):
                if self.sent:
                    await asyncio.Event().wait()
                self.sent = True
                return "slow"


        async def callback(app, message):
            print(f"working {os.getpid()}\\n", end="", flush=True)
            await asyncio.sleep(60)
            print(f"finished {os.getpid()}\\n", end="", flush=True)


        app = Application("slow", consumer=Once(), callback=callback)
        """,
    )
    supervisor = doozer("run", "service", "--processes", "2", "-v")
    supervisor.wait_for_match("^working", "stdout", count=2)
    supervisor.signal(signal.SIGTERM)
    supervisor.wait_for("Received SIGTERM: stopping the application gracefully", stream="stderr")
    supervisor.wait_for("finishing the messages already read", stream="stderr", count=2)
    began = time.monotonic()
    supervisor.signal(signal.SIGTERM)
    status = supervisor.finish(timeout=15)
    assert time.monotonic() - began < 10  # not the 60 s the messages would take
    assert "Received SIGTERM again: sending SIGTERM to the application" in supervisor.output(
        "stderr"
    )
    assert not any(line.startswith("finished") for line in supervisor.stdout)
    assert status == 0, supervisor.output("stderr")  # a forced stop is still a requested one


def test_the_children_stop_when_the_supervisor_is_killed(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", IDLE)
    supervisor = doozer("run", "service", "--processes", "3")
    pids = children(supervisor, 3)
    supervisor.signal(signal.SIGKILL)  # no chance to stop them
    supervisor.finish()
    for pid in pids:
        wait_until(lambda: not alive(pid), f"the orphaned child {pid} stopped")  # noqa: B023
    # They stopped gracefully: their teardown ran (their stdout is still the test's pipe).
    assert sorted(
        int(line.split()[1]) for line in supervisor.stdout if "stopped" in line
    ) == sorted(pids)


def test_children_that_end_on_their_own_are_not_restarted(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write(
        "service.py",
        """
        from doozer import Abort, Application


        class Three:
            def __init__(self):
                self.n = 0

            async def read(self):
                self.n += 1
                if self.n > 3:
                    raise Abort("consumer.done", None)
                return self.n


        async def callback(app, message):
            print(f"got {message}\\n", end="", flush=True)


        app = Application("finite", consumer=Three(), callback=callback)
        """,
    )
    supervisor = doozer("run", "service", "--processes", "2", "-v")
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert sorted(supervisor.stdout) == sorted(["got 1", "got 2", "got 3"] * 2)
    assert supervisor.output("stderr").count("exited with status 0: not restarted") == 2


def test_a_child_stopped_while_it_starts_stops_cleanly(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    # A slow import: the application does not handle signals yet.
    write(
        "service.py",
        IDLE.replace('print(f"imported', 'import time\n    time.sleep(60)\n    print(f"imported'),
    )
    supervisor = doozer("run", "service", "--processes", "2", "-v")
    supervisor.wait_for("Started child 2 of 2", stream="stderr")
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert supervisor.output("stderr").count("exited with status 0") == 2
    assert supervisor.stdout == []
