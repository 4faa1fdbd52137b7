"""Regenerate the tables of docs/quantities.md from edgerun/quantities.py.

    .venv/bin/python scripts/gen_quantities_doc.py

Only the two tables between the ``<!-- table -->`` markers are rewritten; the prose around
them is kept. tests/core/test_quantities.py fails when the file is out of date.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgerun.quantities import _LINEAR, _SPECIAL, QUANTITIES

DOC = Path(__file__).resolve().parents[1] / "docs" / "quantities.md"


def tables() -> str:
    lines = ["| quantity | unit | value | meaning |", "|---|---|---|---|"]
    for q in QUANTITIES.values():
        lines.append(f"| `{q.name}` | {q.unit or '–'} | {q.kind} | {q.description} |")
    lines += ["", "Conversions the normalizer applies:", "", "| from | to |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in [*_LINEAR, *_SPECIAL]]
    return "\n".join(lines)


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    new = re.sub(
        r"<!-- table -->.*<!-- /table -->",
        lambda _: f"<!-- table -->\n{tables()}\n<!-- /table -->",
        text,
        flags=re.S,
    )
    DOC.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
