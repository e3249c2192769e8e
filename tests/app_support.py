"""Shared by the dashboard-logic tests: the tiny zoo's catalog and a session with its M2PT pair open."""
from __future__ import annotations

import pytest

from m2pt_core.explorer import Catalog, ExplorerSession
from m2pt_core.explorer.tiny_zoo import cached_tiny_zoo

TARGET, AUX = "m2pt-digits-audio", "audio-sounds"


@pytest.fixture(scope="module")
def catalog():
    return Catalog(cached_tiny_zoo())


@pytest.fixture
def session(catalog):
    s = ExplorerSession(catalog)
    s.select(TARGET, AUX)
    return s
