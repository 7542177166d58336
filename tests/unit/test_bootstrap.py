"""The composition root configures the process the way the entry points run it."""

from __future__ import annotations

import gc

import pytest

from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.settings import Settings


@pytest.fixture
def collector():
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_bootstrap_raises_the_young_generation_threshold_only(collector, tmp_path):
    gc.set_threshold(700, 11, 12)
    runtime = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/x.db", gc_threshold=12_345))
    runtime.engine.dispose()
    assert gc.get_threshold() == (12_345, 11, 12)


def test_a_threshold_of_zero_keeps_pythons_setting(collector, tmp_path):
    gc.set_threshold(700, 10, 10)
    runtime = bootstrap(Settings(database_url=f"sqlite:///{tmp_path}/x.db", gc_threshold=0))
    runtime.engine.dispose()
    assert gc.get_threshold() == (700, 10, 10)


def test_the_default_is_documented_in_the_settings():
    assert Settings().gc_threshold == 50_000
