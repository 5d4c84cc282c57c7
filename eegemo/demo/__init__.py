"""``eegemo demo``: the whole journey on simulated data, built only on eegemo's public library.

:func:`run_demo` (in :mod:`eegemo.demo.run`) simulates a study, preprocesses,
trains, evaluates and writes an HTML report; :mod:`eegemo.demo.figures` draws its
figures and :mod:`eegemo.demo.report` lays out the page.
"""

from .run import DemoPlan, DemoResult, demo_plan, print_result, run_demo

__all__ = ["DemoPlan", "DemoResult", "demo_plan", "print_result", "run_demo"]
