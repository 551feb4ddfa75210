"""Progress of a long data job: Keras's bar on a terminal, a line a minute in a log file.

Keras's `Progbar` redraws one line on a terminal, but written to a file (`verbose=2`) it prints
only when the work is done: a labelling job of 225,000 images said nothing for twenty minutes
in its log. `Progress` keeps the bar on a terminal and, in a file, prints a line every
`interval` seconds and one at the end:

    labelled 61,440/225,000 examples (27%), 198/s, about 13.8 min left

Example:
```python
progress = Progress(len(images), "image")
for batch in batches:
    ...
    progress.add(len(batch))
```
"""

import sys
import time


def _duration(seconds):
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class Progress:
    """Counts `unit`s done out of `total`; `add(n)` and `update(done)` as Keras's `Progbar` takes them.

    Args:
        total: the units the job will do (None: unknown; no percentage or time left).
        unit: what is counted ("example", "utterance"), singular.
        verb: what is done to them, for the file's lines ("labelled", "converted").
        interval: seconds between a file's lines.
        stream: where a file's lines go (default: stdout, which decides terminal or file too).
        verbose: False prints nothing.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, total, unit, verb="done", interval=60.0, stream=None, verbose=True, clock=time.monotonic):
        self.total, self.unit, self.verb, self.interval = total, unit, verb, interval
        self.stream = stream or sys.stdout
        self.clock = clock
        self.done = 0
        self._started = self._last = clock()
        self._bar = None
        self._silent = not verbose
        if verbose and self.stream is sys.stdout and sys.stdout.isatty():
            import keras

            self._bar = keras.utils.Progbar(total, unit_name=unit, verbose=1)

    def add(self, count):
        self.update(self.done + count)

    def update(self, done):
        self.done = done
        if self._silent:
            return
        if self._bar is not None:
            self._bar.update(done)
            return
        now = self.clock()
        finished = self.total is not None and done >= self.total
        if finished or now - self._last >= self.interval:
            self._last = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()
            if finished:
                self._silent = True  # one closing line

    def line(self, now=None):
        """`labelled 61,440/225,000 examples (27%), 198/s, about 13.8 min left`."""
        elapsed = max((self.clock() if now is None else now) - self._started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.verb} {self.done:,}"
        if self.total:
            text += f"/{self.total:,} {self.unit}s ({self.done / self.total:.0%})"
        else:
            text += f" {self.unit}s"
        text += f", {rate:,.0f}/s"
        if self.total and self.done >= self.total:
            return text + f", in {_duration(elapsed)}"
        if self.total and rate > 0:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        return text
