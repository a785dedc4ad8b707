"""The README's quoted numbers are regenerated from their commands and must not drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "tools" / "readme_numbers.py"
_spec = importlib.util.spec_from_file_location("readme_numbers", _PATH)
readme_numbers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_numbers)


def test_drift_detects_a_changed_number_but_not_a_changed_time():
    readme = ("x\n<!-- readme-numbers: quick-run -->\ntrained 480/480 runs in 4.0s (118.8 runs/s)\n"
              "gamma 0.019\n<!-- /readme-numbers -->\n")
    same = {"quick-run": "trained 480/480 runs in 9.3s (51.2 runs/s)\ngamma 0.019\n"}
    other = {"quick-run": "trained 480/480 runs in 4.0s (118.8 runs/s)\ngamma 0.020\n"}
    assert readme_numbers.drift(readme, same) == []
    assert readme_numbers.drift(readme, other) == ["quick-run"]
    assert readme_numbers.drift("no blocks", same) == ["quick-run"]
    assert "gamma 0.020" in readme_numbers.update(readme, other)


@pytest.mark.slow
def test_readme_blocks_match_their_commands():
    fresh = readme_numbers.render()
    bad = readme_numbers.drift(readme_numbers.README.read_text(), fresh)
    assert not bad, "README numbers drifted (python tools/readme_numbers.py --update): " + \
        "; ".join(f"{n}: {fresh[n]!r}" for n in bad)
