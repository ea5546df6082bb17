"""What ops/bench reads from Kafka's performance tools, from /proc, and how it prints figures."""

from __future__ import annotations

import os

import pytest

from ops.bench import table
from ops.cputime import ProcessTime, parse_stat, spent_by_agent
from ops.floor import (
    ConsumerFigures,
    Floor,
    ProducerFigures,
    parse_consumer_performance,
    parse_producer_performance,
)
from streams.errors import IntelshareError

# As Kafka 4.4.0's ProducerPerformance prints them: progress every 5 s, then the summary.
PRODUCED = """\
13344 records sent, 2634.0 records/sec (0.71 MB/sec), 2000.2 ms avg latency, 2712.0 ms max latency.
58740 records sent, 11736.3 records/sec (3.17 MB/sec), 4170.1 ms avg latency, 5439.0 ms max latency.
200000 records sent, 13831.258645 records/sec (3.73 MB/sec), 4712.69 ms avg latency, \
6261.00 ms max latency, 4957 ms 50th, 5953 ms 95th, 6019 ms 99th, 6256 ms 99.9th.
"""
# As its ConsumerPerformance prints them, a warning between the header and the figures.
CONSUMED = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, \
rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
WARNING: Exiting before consuming the expected number of records: timeout (30000 ms) exceeded.
2026-11-28 04:17:58:723, 2026-11-28 04:18:05:951, 53.9780, 7.4679, 200000, 27670.1716, 4221, \
3007, 17.9508, 66511.4732
"""


def test_the_producer_summary_is_the_line_with_percentiles() -> None:
    """The progress lines are passed over; the summary's rate, mean and p99 are read."""
    assert parse_producer_performance(PRODUCED) == ProducerFigures(
        200_000, 13831.258645, 4712.69, 6019.0
    )


def test_a_producer_run_without_summary_is_an_error_that_shows_its_output() -> None:
    """A tool that stopped early (no summary line) fails with what it printed."""
    progress_only = PRODUCED.splitlines()[0]
    with pytest.raises(IntelshareError, match="no summary") as caught:
        parse_producer_performance(progress_only)
    assert "13344 records sent" in str(caught.value)


def test_the_consumer_figures_are_read_by_the_names_of_the_header() -> None:
    """Records, the rate with the group join, and the rate of fetching alone."""
    assert parse_consumer_performance(CONSUMED) == ConsumerFigures(200_000, 27670.1716, 66511.4732)


def test_a_consumer_run_without_figures_is_an_error() -> None:
    """A header with no line of figures under it fails."""
    with pytest.raises(IntelshareError, match="no figures"):
        parse_consumer_performance(CONSUMED.splitlines()[0])


def test_the_floor_is_the_slower_of_produce_and_consume() -> None:
    """Nothing that produces and consumes goes faster than either."""
    assert Floor(175_000.0, 384_000.0).slower == 175_000.0


def test_proc_stat_gives_the_parent_and_user_plus_system_time() -> None:
    """Fields 4, 14 and 15 of /proc/PID/stat, even when the command name holds ") ("."""
    ticks = os.sysconf("SC_CLK_TCK")
    line = f"4242 (python -m ) (x)) S 17 4242 4242 0 -1 4194560 1 0 0 0 {3 * ticks} {ticks} 0 0"
    assert parse_stat(line + " 20 0 1 0 100 0 0") == (17, 4.0)


def test_cpu_is_charged_per_agent_and_a_new_process_counts_from_zero() -> None:
    """The difference of two snapshots, summed per agent; a restarted child is all new."""
    before = {1: ProcessTime("worker", 1.0), 2: ProcessTime("route", 5.0)}
    after = {
        1: ProcessTime("worker", 1.5),
        2: ProcessTime("route", 7.0),
        3: ProcessTime("route", 0.5),
    }
    assert spent_by_agent(before, after) == {"worker": 0.5, "route": 2.5}


def test_the_table_puts_each_agent_on_a_line_of_its_own() -> None:
    """Nested figures (CPU by agent) are indented under their name."""
    text = table({"reports": 3000, "cpu_by_agent": {"route": 250}})
    assert text.splitlines() == ["reports       3000", "cpu_by_agent", "  route       250"]
