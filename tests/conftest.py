import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the tests' own helpers (reference.py)

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
