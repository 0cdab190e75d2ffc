import os
import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))  # the tests' own helpers (reference.py)

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"

# Property tests draw the same examples on every run and every machine (a CI failure can be
# reproduced by running the test again); HYPOTHESIS_PROFILE=explore searches afresh each run.
settings.register_profile("derandomized", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "derandomized"))
