"""A small run of the load test (`make loadtest` runs N = 10, 25, 50); not part of `make test`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadtest import measure  # noqa: E402


def test_three_sessions_are_served_without_errors():
    result = measure(3, duration=6.0, max_requests=50, ramp=1.0)
    assert result["errors"] == 0, result["error_samples"]
    assert result["served"] == 3 and result["refreshes"] >= 3
    assert result["steps_per_s_total"] > 0 and "running" in result["statuses_seen"]
    assert result["peak_rss_mb"] >= result["baseline_rss_mb"] > 0
