"""The `sitectl` console script (pyproject.toml): `scripts.sitectl.main`, with the collector off while
the group's modules are imported."""

from __future__ import annotations

import gc


def main() -> None:
    # Importing click, botocore and the group allocates tens of thousands of objects that live until
    # exit, and the collector would walk them some 80 times before the command parses its arguments:
    # 14 ms of the 0.36 s of CPU an upload spent before its first request (medians of 21, load 7 to 9).
    # `scripts.sitectl.main` freezes them, then turns the collector back on.
    gc.disable()
    from scripts.sitectl import main as sitectl_main

    sitectl_main()
