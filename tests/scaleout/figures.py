"""The figures of the scale-out scenarios: one row per scenario and balancer.

Printed as each scenario ends (visible with `-s`), shown in pytest's terminal summary, and
written to `scaleout-figures.json` and `scaleout-figures.md` under pytest's base temporary
directory, so the numbers quoted in docs/scaling.md come from a run, not from memory.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.scaleout.load import METHODS, Tally

COLUMNS = (
    "scenario",
    "balancer",
    "requests",
    *(f"{m} {c}" for m in METHODS for c in ("requests", "failed")),
)


class Figures:
    """Rows of requests and failures per method, plus each scenario's own notes."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(self, scenario: str, balancer: str, tally: Tally, **notes: object) -> None:
        row: dict[str, object] = {"scenario": scenario, "balancer": balancer}
        row["requests"] = tally.total
        for method in METHODS:
            row[f"{method} requests"] = tally.requests(method)
            row[f"{method} failed"] = tally.failed[method]
        row["seconds"] = round(tally.seconds, 1)
        row["hosts"] = dict(sorted(tally.hosts.items()))
        row.update(notes)
        self.rows.append(row)
        extra = "".join(f"; {key} {value}" for key, value in notes.items())
        print(f"\n[scale-out] {scenario} via {balancer}: {tally.summary()}{extra}")

    def markdown(self) -> str:
        lines = [
            "| scenario | balancer | requests | GET failed | POST failed | notes |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            notes = ", ".join(f"{k} {v}" for k, v in row.items() if k not in COLUMNS)
            lines.append(
                f"| {row['scenario']} | {row['balancer']} | {row['requests']} | "
                f"{row['GET failed']} / {row['GET requests']} | "
                f"{row['POST failed']} / {row['POST requests']} | {notes} |"
            )
        return "\n".join(lines)

    def write(self, directory: Path) -> Path:
        """Write the JSON and markdown files into `directory`; the JSON file's path."""
        (directory / "scaleout-figures.md").write_text(self.markdown() + "\n")
        path = directory / "scaleout-figures.json"
        path.write_text(json.dumps(self.rows, indent=1))
        return path


FIGURES = Figures()
