"""`python -m export.parity FIXTURE_DIR...` (export/parity/fixtures.py)."""
import sys

from export.parity.fixtures import main

sys.exit(main())
