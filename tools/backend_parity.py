"""Cross-backend parity of every registered block: prints a table, exits 1 on a failure.

Usage: python tools/backend_parity.py [--names rms_norm,swiglu] [--reference tensorflow]
"""

import sys

from dlzoo.testing.parity import main

if __name__ == "__main__":
    sys.exit(main())
