"""The reloader: a supervisor process restarting the application in fresh children."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from doozer.cli.reloader import FileFilter
from tests.support.processes import Process, alive, wait_until

# Runs until stopped; says which child (pid) runs which edition of the code.
SERVICE = """
    import asyncio
    import os

    from doozer import Application

    EDITION = {edition}


    class Idle:
        async def read(self):
            await asyncio.Event().wait()


    async def callback(app, message):
        pass


    app = Application("reloaded", consumer=Idle(), callback=callback)


    @app.startup
    async def startup(app):
        # One write per line (print writes the end apart): children share a pipe.
        print(f"started {os.getpid()} edition {EDITION}\\n", end="", flush=True)


    @app.teardown
    async def teardown(app):
        print(f"stopped {os.getpid()}\\n", end="", flush=True)
"""


def edition(number: int) -> str:
    return SERVICE.replace("{edition}", str(number))


def started(process: Process, count: int) -> tuple[int, int]:
    """Wait for the *count*-th child to start; return its pid and edition."""
    match = process.wait_for_match(r"^started (\d+) edition (\d+)$", count=count)
    return int(match[1]), int(match[2])


@pytest.mark.slow
def test_an_edit_restarts_a_broken_edit_waits_a_fix_restarts_a_signal_stops(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", edition(1))
    supervisor = doozer("run", "service", "--reloader", "-v")
    first, number = started(supervisor, 1)
    assert number == 1
    assert first != supervisor.pid

    # A change to a watched file restarts once; unwatched ones do not count.
    write("notes.txt", "not code\n")
    write(".venv/lib/installed.py", "")
    write(".#service.py", "an editor's lock file\n")
    write("service.py", edition(2))
    second, number = started(supervisor, 2)
    assert (second, number) != (first, 1)
    assert number == 2
    lines = supervisor.stdout
    assert lines.index(f"stopped {first}") < lines.index(f"started {second} edition 2")
    supervisor.wait_for_match("Detected changes in service.py: restarting$", stream="stderr")
    wait_until(lambda: not alive(first), f"the first child {first} is gone")

    # A broken edit: the child fails to import, the supervisor waits.
    write("service.py", edition(3).replace("EDITION = 3", "EDITION = = 3"))
    supervisor.wait_for_match(f"^stopped {second}$")
    supervisor.wait_for_match("^SyntaxError: invalid syntax$", stream="stderr")
    supervisor.wait_for_match("exited with status 1; waiting for a change", stream="stderr")
    assert supervisor.returncode is None

    # The fix brings the application back.
    write("service.py", edition(4))
    third, number = started(supervisor, 3)
    assert number == 4
    assert third not in (first, second)

    # A signal to the supervisor stops the child gracefully, and both exit.
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert supervisor.stdout[-1] == f"stopped {third}"
    for pid in (first, second, third):
        assert not alive(pid), f"child {pid} was left running"
    # Each edit caused exactly one restart: reading files does not count.
    assert len([line for line in supervisor.stdout if line.startswith("started")]) == 3
    assert "stopping now" not in supervisor.output("stderr")  # the child got one signal, not two


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_supervisor_drains_the_child(
    write: Callable[[str, str], Path], doozer: Callable[..., Process], signum: signal.Signals
) -> None:
    write(
        "service.py",
        """
        import asyncio
        import os

        from doozer import Application


        class OneThenNothing:
            def __init__(self):
                self.sent = False

            async def read(self):
                if self.sent:
                    await asyncio.Event().wait()
                self.sent = True
                return "message"


        async def callback(app, message):
            print("child", os.getpid(), "started", message, flush=True)
            await asyncio.sleep(0.5)
            print("finished", message, flush=True)


        app = Application("draining", consumer=OneThenNothing(), callback=callback)
        """,
    )
    supervisor = doozer("run", "service", "-r")
    child = int(supervisor.wait_for_match(r"^child (\d+) started message$")[1])
    supervisor.signal(signum)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert supervisor.stdout[-1] == "finished message"
    assert not alive(child)


def test_ctrl_c_in_a_terminal_reaches_the_child_once(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    # A terminal sends SIGINT to its whole foreground process group. The
    # child runs in a session of its own, so it gets only the supervisor's
    # SIGTERM: one signal, which drains, rather than two, which would force.
    write("service.py", edition(1))
    supervisor = doozer("run", "service", "-r", "-v", new_session=True)
    child, _ = started(supervisor, 1)
    os.killpg(supervisor.pid, signal.SIGINT)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert supervisor.stdout[-1] == f"stopped {child}"
    assert (
        "doozer.cli.supervisor: Received SIGINT: stopping the application gracefully"
        in supervisor.output("stderr")
    )
    # The application (its logger is "reloaded") saw one SIGTERM, and no SIGINT.
    assert "reloaded: Received SIGTERM: finishing the messages already read" in supervisor.output(
        "stderr"
    )
    assert "reloaded: Received SIGINT" not in supervisor.output("stderr")
    assert "stopping now" not in supervisor.output("stderr")
    assert not alive(child)


def test_the_child_stops_itself_when_the_supervisor_is_killed(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", edition(1))
    supervisor = doozer("run", "service", "-r")
    child, _ = started(supervisor, 1)
    supervisor.signal(signal.SIGKILL)  # no chance to stop the child
    supervisor.finish()
    wait_until(lambda: not alive(child), f"the orphaned child {child} stopped")
    # It stopped gracefully: its teardown ran.
    assert supervisor.wait_for_match(f"^stopped {child}$")


def test_a_missing_module_is_reported_before_supervising(
    run_doozer: Callable[..., Process],
) -> None:
    result = run_doozer("run", "nosuch", "--reloader")
    assert result.returncode == 2
    assert result.output("stderr") == (
        "doozer: error: no module named 'nosuch': run doozer from the directory that "
        "contains it, or check the spelling"
    )


def test_the_child_is_marked_and_does_not_supervise(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    # --debug implies the reloader; the child runs with --debug too, yet
    # must run the application rather than start a supervisor of its own.
    write(
        "service.py",
        edition(1).replace(
            'print(f"started',
            'print("parent", os.getppid(), "marker", os.environ.get("DOOZER_SUPERVISOR"))\n'
            '    print(f"started',
        ),
    )
    supervisor = doozer("run", "service", "--debug")
    child, _ = started(supervisor, 1)
    parent = supervisor.wait_for_match(r"^parent (\d+) marker (\S+)$")
    assert int(parent[1]) == supervisor.pid  # the supervisor's child, not a grandchild
    assert parent[2] == "None"  # removed before the application ran
    supervisor.signal(signal.SIGINT)
    assert supervisor.finish() == 0
    assert not alive(child)


@pytest.mark.slow
def test_a_burst_of_edits_restarts_once_after_it(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", edition(1))
    supervisor = doozer("run", "service", "--reloader")
    first, _ = started(supervisor, 1)
    # Ten saves within a second, as an editor or a `git checkout` makes them.
    for number in range(2, 12):
        write("service.py", edition(number))
        threading.Event().wait(0.09)
    second, number = started(supervisor, 2)
    assert number == 11  # the new child runs the last edition
    # Give a late, second restart the time to show up: there must be none.
    threading.Event().wait(1.5)
    starts = [line for line in supervisor.stdout if line.startswith("started")]
    assert len(starts) == 2, starts
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    for pid in (first, second):
        assert not alive(pid), f"child {pid} was left running"


# -- which changes count -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "include", "exclude", "counts"),
    [
        ("service.py", (), (), True),
        ("pkg/settings.ini", (), (), True),
        ("notes.txt", (), (), False),
        ("notes.txt", ("*.txt",), (), True),
        ("conf/app.toml", ("conf/*",), (), True),
        (".venv/lib/site.py", (), (), False),
        (".#service.py", (), (), False),
        ("build/gen.py", (), ("build",), False),
        ("pkg/build/gen.py", (), ("build",), False),
        ("pkg/tests/test_x.py", (), ("pkg/tests/*",), False),
        ("service.py", (), ("*.py",), False),
        ("builder.py", (), ("build",), True),
    ],
)
def test_which_files_count(
    tmp_path: Path, path: str, include: tuple[str, ...], exclude: tuple[str, ...], counts: bool
) -> None:
    files = FileFilter([str(tmp_path)], include, exclude)
    assert files.matches(str(tmp_path / path)) is counts


def test_a_file_outside_the_watched_directories_does_not_count(tmp_path: Path) -> None:
    files = FileFilter([str(tmp_path / "src"), str(tmp_path / "src" / "inner")])
    assert not files.matches(str(tmp_path / "service.py"))
    assert not files.matches(str(tmp_path / "srcx" / "service.py"))
    assert files.relative(str(tmp_path / "src" / "inner" / "a.py")) == "a.py"  # the innermost


def test_include_and_exclude_globs_restart_every_process(
    write: Callable[[str, str], Path], doozer: Callable[..., Process]
) -> None:
    write("service.py", edition(1))
    supervisor = doozer(
        "run",
        "service",
        "-r",
        "-v",
        "--processes",
        "2",
        "--reload-include",
        "*.toml",
        "--reload-exclude",
        "build",
    )
    first = {started(supervisor, 1)[0], started(supervisor, 2)[0]}
    # Within one burst: only settings.toml counts.
    write("build/generated.py", "")
    write("notes.txt", "")
    write(".cache/x.py", "")
    write("settings.toml", "debug = true\n")
    supervisor.wait_for_match("Detected changes in (.*): restarting$", "stderr")
    assert "Detected changes in settings.toml: restarting" in supervisor.output("stderr")
    second = {started(supervisor, 3)[0], started(supervisor, 4)[0]}
    assert not first & second
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert sorted(
        int(line.split()[1]) for line in supervisor.stdout if "stopped" in line
    ) == sorted(first | second)
    assert supervisor.output("stderr").count("Detected changes") == 1


def test_reload_dir_replaces_the_watched_directory(
    write: Callable[[str, str], Path], doozer: Callable[..., Process], tmp_path: Path
) -> None:
    write("service.py", edition(1))
    write("lib/helper.py", "")
    supervisor = doozer("run", "service", "-r", "-v", "--reload-dir", "lib")
    started(supervisor, 1)
    supervisor.wait_for(f"Watching {tmp_path / 'lib'} for changes", stream="stderr")
    write("service.py", edition(2))  # not watched now
    write("lib/helper.py", "VALUE = 2\n")
    supervisor.wait_for("Detected changes in helper.py: restarting", stream="stderr")
    _, number = started(supervisor, 2)
    assert number == 2  # the new child loads the current code, whatever changed
    supervisor.signal(signal.SIGTERM)
    assert supervisor.finish() == 0, supervisor.output("stderr")
    assert supervisor.output("stderr").count("Detected changes") == 1
