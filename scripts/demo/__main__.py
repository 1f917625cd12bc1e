"""`python -m scripts.demo` (what `make demo` runs): the walk-through in `walkthrough.py`."""

import sys

from scripts.demo.walkthrough import main

sys.exit(main())
