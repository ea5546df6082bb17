"""What ops/profile makes of py-spy's raw samples and of an agent process's threads."""

from __future__ import annotations

from ops.cputime import spent_by_thread_kind, thread_kind
from ops.profile import report, summarise

# py-spy --format raw --function: a stack per line, outermost frame first, then its samples.
RAW = """\
main (app.py:1);run (engine.py:10);process (route.py:5);seal (crypto.py:108) 6
main (app.py:1);run (engine.py:10);process (route.py:5);encode (codec.py:70) 3
main (app.py:1);run (engine.py:10);poll (consumer.py:288) 1
Thread._bootstrap (threading.py:988);write (status.py:115) 2
"""


def test_self_time_is_the_top_frame_of_each_stack() -> None:
    """Samples are counted for the innermost frame only."""
    profile = summarise(RAW)
    assert profile.samples == 12
    assert profile.own.most_common(2) == [("seal (crypto.py:108)", 6), ("encode (codec.py:70)", 3)]


def test_total_time_leaves_out_the_frames_every_stack_of_a_thread_shares() -> None:
    """``main`` and ``run`` are on every stack of the main thread: they say nothing."""
    profile = summarise(RAW)
    assert profile.anywhere["process (route.py:5)"] == 9
    assert "main (app.py:1)" not in profile.anywhere
    assert "run (engine.py:10)" not in profile.anywhere


def test_a_line_that_is_not_a_stack_is_skipped() -> None:
    """py-spy's own messages, or an empty line, count no sample."""
    assert summarise("py-spy> Stopped sampling\n\n" + RAW).samples == 12


def test_the_report_charges_each_share_to_the_python_threads_cpu() -> None:
    """Half the samples of 240 µs of Python CPU is 120 µs per report."""
    text = report("route", summarise(RAW), {"python": 240.0, "librdkafka": 60.0}, top=1)
    assert text.splitlines()[0] == "== route: 300 µs of CPU per report (librdkafka 60, python 240)"
    assert "   50.0%     120  seal (crypto.py:108)" in text.splitlines()


def test_threads_are_told_apart_by_their_os_names() -> None:
    """librdkafka's and RocksDB's threads by name; every other one is Python's."""
    assert [thread_kind(n) for n in ("rdk:broker1", "rocksdb:low", "python")] == [
        "librdkafka",
        "rocksdb",
        "python",
    ]
    before = {1: ("python", 1.0), 2: ("rdk:main", 0.5)}
    after = {1: ("python", 2.0), 2: ("rdk:main", 0.75), 3: ("rdk:broker1", 0.25)}
    assert spent_by_thread_kind(before, after) == {"python": 1.0, "librdkafka": 0.5}
