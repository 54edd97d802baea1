"""A busy server refreshes its pages less often, in proportion to its load, and back again (issue 12)."""

from playground.pace import STEPS, Pace


class Clock:
    def __init__(self):
        self.now, self.cpu = 0.0, 0.0

    def advance(self, seconds: float, cores: float) -> None:
        self.now += seconds
        self.cpu += seconds * cores


def test_pages_refresh_as_asked_while_drawing_them_takes_under_the_share():
    c = Clock()
    pace = Pace(share=0.5, clock=lambda: c.now, cpu=lambda: c.cpu)
    for _ in range(5):
        c.advance(2.0, cores=0.3)
        assert pace.period(0.25) == 0.25


def test_an_overloaded_server_lengthens_every_period_in_proportion_and_recovers():
    c = Clock()
    pace = Pace(share=0.5, clock=lambda: c.now, cpu=lambda: c.cpu)
    c.advance(2.0, cores=1.0)  # twice the share
    assert pace.period(0.25) == 0.5 and pace.slowed(0.25)
    c.advance(2.0, cores=1.0)  # still twice: it lengthens again
    assert pace.period(0.25) == 1.0
    for _ in range(10):
        c.advance(2.0, cores=0.1)
        pace.period(0.25)
    assert pace.period(0.25) == 0.25 and not pace.slowed(0.25)


def test_the_period_is_one_of_a_few_steps_and_bounded():
    c = Clock()
    pace = Pace(share=0.5, clock=lambda: c.now, cpu=lambda: c.cpu)
    for _ in range(20):
        c.advance(2.0, cores=5.0)
        assert pace.period(0.25) in STEPS
    assert pace.period(0.25) == STEPS[-1]


def test_a_class_arriving_slows_the_pages_before_the_cpu_shows_it():
    """Forty pages that each cost 20 ms a redraw need 1.6 s between redraws to stay within half a core."""
    c = Clock()
    pace = Pace(share=0.5, clock=lambda: c.now, cpu=lambda: c.cpu)
    assert pace.period(0.25) == 0.25
    for page in range(40):
        pace.record(f"page {page}", 0.02)
    assert pace.period(0.25) == 2.0  # the first step at or above 40 * 0.02 / 0.5 = 1.6 s
