"""Progress of the long steps a user waits for: a bar on a terminal, plain lines in logs, or nothing.

    progress = Progress()                      # on: a tqdm bar on a terminal, plain lines otherwise
    with progress.bar(722_857, "encoding", unit="images") as bar:
        for chunk in chunks:
            ...
            bar.update(len(chunk))            # encoding: 72,286/722,857 images (10%), 3,412 images/s, 3m 10s left
    with progress.step("scoring dci"):         # scoring dci ...  /  scoring dci: 143.2 s
        ...
    progress.note("all 722,857 images from the cache")

`Progress.of(flag)` turns a flag (True/False/None) or a `Progress` into a `Progress`; a quiet one
(``Progress(enabled=False)``, the library default) prints nothing and costs nothing. Everything
goes to one stream (stderr by default), so a command's results on stdout stay clean.

On a terminal ``bar`` is a tqdm bar (done/total, rate, time left). Elsewhere (a log file, CI) it
prints a plain line each time another ~10 % is done or 30 s have passed, whichever comes first,
and a last line with the total time; ``step`` prints a start line, one line every 30 s while it
runs (so a long step is never mistaken for a hung one) and its time at the end; on a terminal
that line is rewritten in place with the time so far.
"""

import contextlib
import math
import sys
import threading
import time

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds):
    """12.3 s, 4m 05s, 1h 02m (? when unknown)."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


class Progress:
    """Where and how progress is shown (see the module docstring).

    Args:
      enabled: False: print nothing.
      stream: a text stream (default: sys.stderr at the time of printing).
      tty: force terminal (True: tqdm bars) or log (False: plain lines) output; default: ask the
        stream (``isatty()``).
      every_fraction, every_seconds: plain-line cadence of bars (and of ``step``'s "still running").
      clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, enabled=True, stream=None, tty=None, every_fraction=0.1, every_seconds=30.0, clock=time.monotonic
    ):
        self.enabled = enabled
        self._stream = stream
        self._tty = tty
        self.every_fraction = every_fraction
        self.every_seconds = every_seconds
        self.clock = clock

    @classmethod
    def of(cls, progress):
        """A `Progress` from a flag: True -> on, False/None -> quiet; a `Progress` is returned as is."""
        if isinstance(progress, Progress):
            return progress
        return cls(enabled=bool(progress))

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    @property
    def tty(self):
        if self._tty is not None:
            return self._tty
        isatty = getattr(self.stream, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # a closed stream
            return False

    def note(self, message):
        """One line (nothing when quiet)."""
        if self.enabled:
            print(message, file=self.stream, flush=True)

    def bar(self, total, desc, unit="items"):
        """A context manager yielding a counter with ``update(n)``; see the module docstring."""
        if not self.enabled:
            return _Quiet()
        if self.tty:
            return _TqdmBar(self, total, desc, unit)
        return _LineBar(self, total, desc, unit)

    @contextlib.contextmanager
    def step(self, desc):
        """Time a step without a count: a start line, "still running" lines, and its time at the end
        (after "failed after" when an exception ends the step, "interrupted after" on Ctrl-C).
        Yields a dict; the step's seconds are stored in it under ``seconds`` at the end."""
        timing = {}
        if not self.enabled:
            start = time.perf_counter()
            try:
                yield timing
            finally:
                timing["seconds"] = time.perf_counter() - start
            return
        start, clock_start = time.perf_counter(), self.clock()
        tty = self.tty
        done = threading.Event()
        if tty:  # one line, rewritten in place with the time so far
            self._write(f"{desc} ...")
            interval = 1.0
        else:
            self.note(f"{desc} ...")
            interval = self.every_seconds

        def heartbeat():  # so a long step does not look hung
            while not done.wait(interval):
                elapsed = format_seconds(self.clock() - clock_start)
                if tty:
                    self._write(f"\r{desc} ... {elapsed}")
                else:
                    self.note(f"{desc}: still running, {elapsed}")

        thread = threading.Thread(target=heartbeat, daemon=True)
        thread.start()
        ended = "failed after "
        try:
            yield timing
            ended = ""
        except KeyboardInterrupt:
            ended = "interrupted after "
            raise
        finally:
            done.set()
            thread.join()
            timing["seconds"] = time.perf_counter() - start
            line = f"{desc}: {ended}{format_seconds(timing['seconds'])}"
            if tty:
                self._write(f"\r{line}\033[K\n")
            else:
                self.note(line)

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass


class _LineBar:
    """Plain lines: every ~10 % or 30 s, and a summary at the end."""

    def __init__(self, progress, total, desc, unit):
        self.progress, self.total, self.desc, self.unit = progress, int(total), desc, unit
        self.done = 0

    def __enter__(self):
        self.start = self.last_time = self.progress.clock()
        self.mark, self.last_fraction = 0, 0.0
        self.progress.note(f"{self.desc}: {self.total:,} {self.unit} ...")
        return self

    def update(self, n=1):
        self.done += n
        now = self.progress.clock()
        fraction = self.done / self.total if self.total else 1.0
        if self.done >= self.total:
            return  # the summary line says it
        mark = math.floor(fraction / self.progress.every_fraction + 1e-9)  # how many 10 % marks passed
        at_mark, self.mark = mark > self.mark, max(mark, self.mark)
        # A line at each ~10 % mark (unless the last one, written for time, was just before it),
        # and one whenever every_seconds passed without a line.
        if (
            at_mark and fraction - self.last_fraction >= self.progress.every_fraction / 2
        ) or now - self.last_time >= self.progress.every_seconds:
            self.last_time, self.last_fraction = now, fraction
            elapsed = now - self.start
            rate = self.done / elapsed if elapsed > 0 else float("inf")
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            self.progress.note(
                f"{self.desc}: {self.done:,}/{self.total:,} {self.unit} ({100 * fraction:.0f}%), "
                f"{rate:,.0f} {self.unit}/s, {format_seconds(left)} left"
            )

    def __exit__(self, exc_type, *exc):
        elapsed = self.progress.clock() - self.start
        rate = f", {self.done / elapsed:,.0f} {self.unit}/s" if elapsed > 0 and self.done else ""
        status = "stopped at" if exc_type is not None or self.done < self.total else "done,"
        self.progress.note(
            f"{self.desc}: {status} {self.done:,}/{self.total:,} {self.unit} in {format_seconds(elapsed)}{rate}"
        )
        return False


class _TqdmBar:
    """A tqdm bar on a terminal (done/total, rate, time left)."""

    def __init__(self, progress, total, desc, unit):
        self.progress, self.total, self.desc, self.unit = progress, int(total), desc, unit

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.total,
            desc=self.desc,
            unit=f" {self.unit}",
            unit_scale=True,
            file=self.progress.stream,
            dynamic_ncols=True,
            smoothing=0.1,
            mininterval=0.5,
        )
        return self

    def update(self, n=1):
        self.bar.update(n)

    def __exit__(self, *exc):
        self.bar.close()
        return False
