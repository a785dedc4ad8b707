"""One progress bar for the CLI and notebooks: runs done, runs/s, elapsed, ETA (rich).

rich renders it as a live bar in a terminal and as an updating widget in Jupyter, and
degrades to nothing on a non-interactive stream, so library code may always pass it.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

__all__ = ["RateColumn", "progress_bar"]


class RateColumn(ProgressColumn):
    """Runs per second (the finished speed once the task is done)."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} runs/s" if speed else "- runs/s", style="cyan")


def progress_bar(console: Console | None = None, transient: bool = False) -> Progress:
    """``description | bar | k/n | runs/s | elapsed | ETA``."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=transient)
