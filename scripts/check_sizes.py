"""Print the largest modules and functions under marketplace/; fail past the house limits.

    python scripts/check_sizes.py            # the ten largest of each, then any over the limits
    python scripts/check_sizes.py --top 30

Limits (ARCHITECTURE.md): a module under marketplace/ has at most 600 lines, a function at most 80
(decorators and docstring included, as the reader sees it).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def modules(package: Path) -> list[tuple[int, str]]:
    """(lines, path) of every Python module of the package."""
    return [(len(path.read_text(encoding="utf-8").splitlines()), str(path.relative_to(ROOT)))
            for path in sorted(package.rglob("*.py"))]


def functions(package: Path) -> list[tuple[int, str]]:
    """(lines, 'path:line name') of every function and method of the package."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                found.append((node.end_lineno - first + 1, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    package = ROOT / "marketplace"
    failed = False
    for title, rows, limit in (("modules", modules(package), MAX_MODULE_LINES),
                               ("functions", functions(package), MAX_FUNCTION_LINES)):
        rows.sort(reverse=True)
        print(f"largest {title} (limit {limit} lines):")
        for lines, where in rows[:args.top]:
            print(f"  {lines:5d}  {where}")
        over = [(lines, where) for lines, where in rows if lines > limit]
        for lines, where in over:
            print(f"OVER THE LIMIT: {where} has {lines} lines (> {limit})")
        failed = failed or bool(over)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
