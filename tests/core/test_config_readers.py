"""doozer.config's checked readers: one message style, ``NAME must be ..., got ...``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from doozer.config import (
    check_server_url,
    read_file,
    read_seconds,
    read_text,
    read_whole_number,
)


def test_seconds_are_numbers_at_least_the_minimum_and_text_from_the_environment() -> None:
    assert read_seconds({"T": 2}, "T") == 2.0
    assert read_seconds({"T": " 2.5 "}, "T", minimum=0.5, parse_text=True) == 2.5
    assert read_seconds({"T": None}, "T", optional=True) is None
    assert read_seconds({"T": math.inf}, "T") == math.inf


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (-1, {}, "T must be a number of seconds >= 0, got -1"),
        ("soon", {"parse_text": True}, "T must be a number of seconds >= 0, got 'soon'"),
        ("2", {}, "T must be a number of seconds >= 0, got '2'"),
        (True, {}, "T must be a number of seconds >= 0, got True"),
        (math.nan, {}, "T must be a number of seconds >= 0, got nan"),
        (None, {}, "T must be a number of seconds >= 0, got None"),
        (0, {"exclusive": True}, "T must be a number of seconds > 0, got 0"),
        (0.1, {"minimum": 0.5, "optional": True}, "T must be a number of seconds >= 0.5 or None"),
    ],
)
def test_bad_seconds(value: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        read_seconds({"T": value}, "T", **kwargs)  # type: ignore[call-overload]


def test_whole_numbers() -> None:
    assert read_whole_number({"N": 3}, "N") == 3
    assert read_whole_number({"N": "7"}, "N", parse_text=True) == 7
    assert read_whole_number({"N": None}, "N", optional=True) is None
    assert read_whole_number({"N": 0}, "N", minimum=0, maximum=5) == 0
    with pytest.raises(ValueError, match=r"^N must be a whole number >= 1 or None, got 0$"):
        read_whole_number({"N": 0}, "N", optional=True)
    with pytest.raises(ValueError, match=r"^N must be a whole number from 1 to 5, got 6$"):
        read_whole_number({"N": 6}, "N", maximum=5)
    for wrong in (2.0, True, "2", None):
        with pytest.raises(ValueError, match=r"^N must be a whole number >= 1, got "):
            read_whole_number({"N": wrong}, "N")


def test_text_and_secrets_stay_hidden() -> None:
    assert read_text({"S": "x"}, "S") == "x"
    assert read_text({"S": None}, "S") is None
    with pytest.raises(TypeError, match=r"^S must be a non-empty string or None, got ''$"):
        read_text({"S": ""}, "S")
    with pytest.raises(TypeError, match=r"^S must be a non-empty string, got None$"):
        read_text({"S": None}, "S", optional=False)
    with pytest.raises(TypeError, match=r"^X_PASSWORD must be .*, got \*\*\*$"):
        read_text({"X_PASSWORD": 12345}, "X_PASSWORD")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://u:hunter2@h:1", "the scheme must be one of x://, y://"),
        ("x://u:hunter2@:1", "it names no host"),
        ("x://u:hunter2@h:0", "port 0 is not a port"),
        ("x://u:hunter2@h:port", "Port could not be cast"),
        ("y://", "a y:// URL needs the socket's path"),
        ("x://u:hunter2@h/db", "no db"),
    ],
)
def test_server_urls_say_why_in_one_masked_line(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=r"^X_URL '") as caught:
        check_server_url(
            "X_URL",
            url,
            schemes=("x", "y"),
            form="x://host:port",
            socket_schemes=("y",),
            also=lambda parts: "no db" if parts.path else None,
        )
    text = str(caught.value)
    assert text.endswith("; use x://host:port"), text
    assert why in text
    assert "hunter2" not in text
    assert "\n" not in text


def test_a_good_server_url_is_returned() -> None:
    assert check_server_url("X_URL", "x://h:1", schemes=("x",), form="") == "x://h:1"
    assert check_server_url("X_URL", "y:///tmp/s", schemes=("y",), form="", socket_schemes="y")


def test_files_must_be_readable_files(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    assert read_file({"F": str(pem)}, "F") == str(pem)
    assert read_file({"F": None}, "F") is None
    for missing in (tmp_path / "nope.pem", tmp_path):  # absent, or a directory
        with pytest.raises(ValueError, match=f"^F '{missing}' is not a readable file: check"):
            read_file({"F": str(missing)}, "F")
    with pytest.raises(TypeError, match=r"^F must be a non-empty string or None, got 3"):
        read_file({"F": 3}, "F")
