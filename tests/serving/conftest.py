"""Fixtures of the serving tests: registered models whose answers tell their versions apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_models import register_constant


@pytest.fixture
def constants(keel_home: Path) -> dict[str, int]:
    """Model ``const`` with versions 1, 2, 3 predicting 1.0, 2.0, 3.0; alias ``champion`` → version 1."""
    versions = {f"v{v}": register_constant("const", float(v)) for v in (1, 2, 3)}
    import keel

    keel.set_registered_model_alias("const", "champion", versions["v1"])
    return versions
