"""mimic_keras.progress: a log file gets a line a minute and a closing line, not silence until the end."""

import io

from mimic_keras.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_file_gets_a_line_per_interval_and_one_at_the_end():
    clock, out = Clock(), io.StringIO()
    progress = Progress(1000, "example", verb="labelled", interval=60, stream=out, clock=clock)
    clock.now = 30
    progress.add(100)
    assert out.getvalue() == ""  # under a minute: nothing yet
    clock.now = 61
    progress.add(100)
    assert out.getvalue() == "labelled 200/1,000 examples (20%), 3/s, about 4.1 min left\n"
    clock.now = 90
    progress.add(100)
    assert out.getvalue().count("\n") == 1  # 29 s after the last line
    clock.now = 200
    progress.update(1000)
    assert out.getvalue().splitlines()[-1] == "labelled 1,000/1,000 examples (100%), 5/s, in 3.3 min"
    progress.add(5)  # past the end: no more lines
    assert out.getvalue().count("\n") == 2


def test_an_unknown_total_and_a_silent_job():
    clock, out = Clock(), io.StringIO()
    progress = Progress(None, "utterance", interval=10, stream=out, clock=clock)
    clock.now = 20
    progress.add(40)
    assert out.getvalue() == "done 40 utterances, 2/s\n"
    quiet = Progress(10, "image", stream=out, verbose=False, clock=clock)
    clock.now = 100
    quiet.update(10)
    assert out.getvalue().count("\n") == 1 and quiet.done == 10
