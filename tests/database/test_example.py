"""docs/examples/orders_db.py does what docs/database.rst says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.processes import doozer

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "orders_db.py"


@pytest.mark.slow
def test_the_upsert_recipe_stores_a_redelivered_order_once(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path)
    for run in (1, 2):  # the second run delivers the same orders again
        process = doozer("run", "orders_db", cwd=tmp_path)
        assert process.finish() == 0, process.output("stderr")
        assert process.output("stdout").splitlines() == ["2 orders stored"], run
    assert (tmp_path / "orders.db").is_file()
