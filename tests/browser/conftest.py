"""The browser the view's tests run in: Debian's headless Chromium.

Missing outside CI, the browser tests are skipped with the reason; in CI (``CI=true``) a missing
browser fails them, so a machine without it cannot pass by skipping (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.browser.chromium import Chromium, find_chromium


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        message = "headless Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI must run the browser tests")
        pytest.skip(message)
    return path


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Chromium]:
    with Chromium(chromium_path) as chromium:
        yield chromium
