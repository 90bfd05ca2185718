from __future__ import annotations

import doozer
from doozer.exceptions import Abort, exception_chain


def test_abort_carries_reason_and_message() -> None:
    message = {"id": 1}
    abort = Abort("provider.ignored", message)
    assert abort.reason == "provider.ignored"
    assert abort.message is message
    assert str(abort) == "provider.ignored"
    assert isinstance(abort, Exception)


def test_public_names() -> None:
    assert doozer.Abort is Abort
    assert doozer.Application.__module__ == "doozer.base"
    assert doozer.Extension.__module__ == "doozer.extensions"
    assert doozer.__version__.startswith("2.")


def test_exception_chain_follows_causes_then_contexts_each_once() -> None:
    root = OSError("reset")
    wrapped = ConnectionError("lost")
    wrapped.__cause__ = root
    outer = RuntimeError("gave up")
    outer.__context__ = wrapped
    root.__context__ = outer  # a cycle: every link once all the same
    assert exception_chain(outer) == [outer, wrapped, root]
    assert exception_chain(root) == [root, outer, wrapped]
