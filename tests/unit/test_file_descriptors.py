"""`serve` raises the process's open-file limit to what MAX_CONNECTIONS needs, so connections beyond it
get their 503 instead of a reset when the descriptors run out (the 20,600 idle connections of issue 15)."""

import subprocess
import sys

from tests.helpers import ROOT

CHECK = """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
from src.serving import SPARE_FILE_DESCRIPTORS, enough_file_descriptors
enough_file_descriptors(300)
needed = 300 * 2 + SPARE_FILE_DESCRIPTORS
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(needed, hard))
"""


def test_the_open_file_limit_is_raised_to_fit_max_connections():
    # In a child: the limit is the process's own.
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
