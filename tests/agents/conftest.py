"""The agents' tests share ``local_server.py`` (an HTTP server for served policies); make it importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
