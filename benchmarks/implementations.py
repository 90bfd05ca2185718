"""The three implementations behind one call: build the application, run it to the end."""

from __future__ import annotations

import asyncio
import importlib.metadata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import doozer

from . import baseline

NAMES = ("doozer", "baseline", "henson")
LABELS = {"doozer": "Doozer", "baseline": "asyncio baseline", "henson": "Henson 2.2.0"}


@dataclass
class Pipeline:
    """The coroutines a scenario runs, registered the same way everywhere."""

    callback: Any
    preprocessors: Sequence[Any] = ()
    postprocessors: Sequence[Any] = ()
    acknowledgements: Sequence[Any] = field(default_factory=list)


def new_loop() -> asyncio.AbstractEventLoop:
    """The event loop every implementation runs on: uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def loop_kind() -> str:
    loop = new_loop()
    try:
        return f"{type(loop).__module__}.{type(loop).__qualname__}"
    finally:
        loop.close()


def henson_module() -> Any:
    """Import Henson; its ``import pkg_resources`` warns on current setuptools."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources", category=UserWarning)
        import henson
    return henson


def available(name: str) -> bool:
    if name != "henson":
        return True
    try:
        henson_module()
    except ImportError:
        return False
    return True


def abort_class(name: str) -> Callable[[str, Any], BaseException]:
    """The exception a consumer raises to end consumption under *name*."""
    if name == "doozer":
        return doozer.Abort
    if name == "henson":
        return henson_module().Abort  # type: ignore[no-any-return]
    return baseline.Abort


def run(name: str, consumer: Any, pipeline: Pipeline, workers: int) -> None:
    """Run *consumer* through *pipeline* with *name* until the consumer ends."""
    loop = new_loop()
    try:
        if name == "baseline":
            loop.run_until_complete(
                baseline.serve(
                    SimpleNamespace(name="baseline"),
                    consumer,
                    pipeline.callback,
                    workers=workers,
                    preprocessors=pipeline.preprocessors,
                    postprocessors=pipeline.postprocessors,
                    acknowledgements=pipeline.acknowledgements,
                )
            )
            return
        application = doozer.Application if name == "doozer" else henson_module().Application
        app = application("bench", consumer=consumer, callback=pipeline.callback)
        for preprocess in pipeline.preprocessors:
            app.message_preprocessor(preprocess)
        for postprocess in pipeline.postprocessors:
            app.result_postprocessor(postprocess)
        for acknowledge in pipeline.acknowledgements:
            app.message_acknowledgement(acknowledge)
        app.run_forever(num_workers=workers, loop=loop)
    finally:
        if not loop.is_closed():
            loop.close()


def versions() -> dict[str, str]:
    found = {}
    for distribution in ("doozer-core", "henson", "uvloop"):
        try:
            found[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            found[distribution] = "not installed"
    return found
