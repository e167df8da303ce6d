"""Progress lines: plain lines in logs (every ~10 % or 30 s), nothing when quiet, a bar on a terminal."""

import io
import time
import unittest
from unittest import mock

from bvae_tf.progress import Progress, format_seconds


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Lines(unittest.TestCase):
    def progress(self, **kwargs):
        stream, clock = io.StringIO(), FakeClock()
        return Progress(stream=stream, tty=False, clock=clock, **kwargs), stream, clock

    def steady_bar(self, steps, seconds, count):
        """The lines of a 1,000-image bar updated ``steps`` times, by ``count`` every ``seconds``."""
        progress, stream, clock = self.progress()
        with progress.bar(1000, "encoding", unit="images") as bar:
            for _ in range(steps):
                clock.now += seconds
                bar.update(count)
        return stream.getvalue().splitlines()

    def test_bar_prints_every_tenth_with_rate_and_time_left(self):
        lines = self.steady_bar(100, 0.1, 10)
        self.assertEqual(lines[0], "encoding: 1,000 images ...")
        self.assertEqual(len(lines), 1 + 9 + 1)  # start, 10 % ... 90 %, the summary
        self.assertEqual(lines[1], "encoding: 100/1,000 images (10%), 100 images/s, 9.0 s left")
        self.assertIn("(90%)", lines[9])
        self.assertEqual(lines[-1], "encoding: done, 1,000/1,000 images in 10.0 s, 100 images/s")

    def test_bar_prints_every_30_seconds_when_slow(self):
        lines = self.steady_bar(9, 20, 1)
        # at 40 s, 80 s, 120 s and 160 s (each 30 s after the last line), none for 10 %
        self.assertEqual(
            [line.split(",")[0] for line in lines[1:-1]],
            ["encoding: 2/1", "encoding: 4/1", "encoding: 6/1", "encoding: 8/1"],
        )
        self.assertIn("stopped at 9/1,000", lines[-1])

    def test_no_mark_line_just_after_a_line_for_time(self):
        progress, stream, clock = self.progress()
        with progress.bar(100, "encoding", unit="images") as bar:
            clock.now = 31.0
            bar.update(19)  # 30 s without a line: one now, at 19 %
            clock.now = 32.0
            bar.update(1)  # the 20 % mark, 1 % later: none
            clock.now = 33.0
            bar.update(10)  # the 30 % mark
        lines = stream.getvalue().splitlines()
        self.assertEqual(
            [line.split(" (")[0] for line in lines[1:-1]], ["encoding: 19/100 images", "encoding: 30/100 images"]
        )

    def test_a_big_update_prints_one_line(self):
        progress, stream, clock = self.progress()
        with progress.bar(100, "encoding", unit="images") as bar:
            clock.now = 1.0
            bar.update(55)
            clock.now = 2.0
            bar.update(45)
        lines = stream.getvalue().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertIn("55/100 images (55%)", lines[1])

    def test_step_prints_start_and_time(self):
        progress, stream, clock = self.progress()
        # The step's own clock reads 100.0 at the start and 102.5 at the end: 2.5 s, nothing else.
        with mock.patch("bvae_tf.progress.time.perf_counter", side_effect=[100.0, 102.5]) as perf_counter:
            with progress.step("scoring dci") as timing:
                pass
        self.assertEqual(perf_counter.call_count, 2)
        self.assertEqual(timing["seconds"], 2.5)
        self.assertEqual(stream.getvalue().splitlines(), ["scoring dci ...", "scoring dci: 2.5 s"])

    def test_step_heartbeat_and_failure(self):
        progress, stream, clock = self.progress(every_seconds=0.01)
        with self.assertRaises(KeyError):
            with progress.step("scoring dci"):
                clock.now = 45.0
                time.sleep(0.1)
                raise KeyError("x")
        lines = stream.getvalue().splitlines()
        self.assertIn("scoring dci: still running, 45.0 s", lines)
        self.assertRegex(lines[-1], "^scoring dci: failed after")
        with self.assertRaises(KeyboardInterrupt), progress.step("scoring sap"):
            raise KeyboardInterrupt  # Ctrl-C: not a failure of the step
        self.assertRegex(stream.getvalue().splitlines()[-1], r"^scoring sap: interrupted after \d")

    def test_quiet_prints_nothing_and_still_times(self):
        stream = io.StringIO()
        progress = Progress(enabled=False, stream=stream)
        with progress.bar(10, "encoding") as bar:
            bar.update(10)
        with mock.patch("bvae_tf.progress.time.perf_counter", side_effect=[7.0, 7.25]):
            with progress.step("scoring") as timing:
                pass
        progress.note("hello")
        self.assertEqual(stream.getvalue(), "")
        self.assertEqual(timing["seconds"], 0.25)
        self.assertFalse(Progress.of(False).enabled)
        self.assertFalse(Progress.of(None).enabled)
        self.assertTrue(Progress.of(True).enabled)
        self.assertIs(Progress.of(progress), progress)

    def test_terminal_gets_a_tqdm_bar(self):
        stream = io.StringIO()
        progress = Progress(stream=stream, tty=True)
        with progress.bar(50, "encoding", unit="images") as bar:
            bar.update(50)
        self.assertIn("100%", stream.getvalue())
        self.assertIn("encoding", stream.getvalue())
        with progress.step("scoring mig"):
            pass
        self.assertRegex(stream.getvalue(), r"\rscoring mig: \d+\.\d s\x1b\[K\n$")

    def test_not_a_terminal_by_default_for_a_string_stream(self):
        self.assertFalse(Progress(stream=io.StringIO()).tty)

    def test_format_seconds(self):
        self.assertEqual(format_seconds(3.14), "3.1 s")
        self.assertEqual(format_seconds(245), "4m 05s")
        self.assertEqual(format_seconds(3720), "1h 02m")
        self.assertEqual(format_seconds(float("inf")), "?")


if __name__ == "__main__":
    unittest.main()
