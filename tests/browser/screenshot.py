"""Take the README's screenshot of the execution view: a real local run, opened in headless Chromium.

Run: python -m tests.browser.screenshot docs/view.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.browser.chromium import Chromium, find_chromium

ROOT = Path(__file__).resolve().parents[2]
COMMAND = ["run", "examples/journey-batch.json", "--json", "--behave", "kenji@example.com=bounce",
           "--behave", "+14155550123=flaky:2", "--behave", "+442071838750=never", "--receipt-timeout", "6",
           "--heartbeat", "4", "--deadline", "3"]


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/view.png")
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("headless Chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "run.html"
        subprocess.run([sys.executable, "-m", "journey_activity_local.cli", *COMMAND, "--view", str(page)], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        with Chromium(chromium) as browser:
            browser.open(page.as_uri() + "#endpoint=sms-maria", width=1500, height=960)
            target.parent.mkdir(parents=True, exist_ok=True)
            browser.screenshot(target)
            if browser.errors:
                raise SystemExit(f"the page logged errors: {browser.errors}")
    print(target)


if __name__ == "__main__":
    main()
