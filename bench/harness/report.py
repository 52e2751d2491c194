"""What every benchmark prints: the command line as run, and percentiles."""

import os
import re
import shlex
import sys


def printable_command() -> str:
    """The command line as run, with any password in a URL masked."""
    interpreter = os.path.relpath(sys.executable)
    if interpreter.startswith(".."):
        interpreter = sys.executable
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", shlex.join([interpreter, *sys.argv]))


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
