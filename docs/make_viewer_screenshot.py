"""Take the README's screenshot of the results viewer: the demo corpus's Page 1 after examples/lines.py.

Runs ``examples/lines.py --lines 4`` on a demo sandbox, as ``arkworker run examples/lines.py
--sandbox --lines 4 --view`` does, and has headless Chromium (``tests/browser.py``, Debian's
``chromium``) take the page view of Page 1, every source shown, as ``docs/viewer.png``::

    python docs/make_viewer_screenshot.py
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from arkworker.cli.locate import locate_app  # noqa: E402
from arkworker.cli.sandbox import sandbox_environment  # noqa: E402
from arkworker.cli.worker import invoke_app  # noqa: E402
from arkworker.sandbox import Sandbox  # noqa: E402
from tests.browser import Chromium  # noqa: E402

OUTPUT = ROOT / "docs" / "viewer.png"


def main() -> None:
    with Sandbox() as sandbox:
        env = {**sandbox_environment(os.environ, sandbox), "ARKWORKER_RETRY_BACKOFF": "0"}
        arguments = ["--lines", "4", "--progress", "none", "--element", *sandbox.listed_element_ids()]
        code, _ = invoke_app(
            locate_app(str(ROOT / "examples" / "lines.py")), arguments, env=env, stream=io.StringIO()
        )
        if code:
            raise SystemExit(f"examples/lines.py failed (exit code {code})")
        (page,) = sandbox.objects("elements", name="Page 1", type="page")
        with Chromium(width=1280, height=800) as browser:
            browser.open(f"{sandbox.url}/view/element/{page['id']}")
            shot = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
    # A user interface has few colours: 128 keep it as it is, at under half the size.
    shot.quantize(colors=128).save(OUTPUT, optimize=True)
    print(f"{OUTPUT.relative_to(ROOT)}: {OUTPUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
