"""WCAG 2.1 contrast of the coop's configurable colours against what is drawn on them (static/style.css)."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

AA_TEXT = 4.5   # WCAG 2.1 AA, normal-size text (1.4.3)

# Where each configurable colour meets text in static/style.css: (the other colour, where).
PAIRINGS: dict[str, tuple[tuple[str, object], ...]] = {
    "colour_primary": (("#ffffff", _l("white text on buttons and the header")),
                       ("#fbfaf6", _l("links on the page background"))),
    "colour_accent": (("#222222", _l("dark text on the header's button and badges")),
                      ("#1d2320", _l("dark text on badges"))),
}


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(hex_colour: str) -> float:
    """WCAG's relative luminance of a #RRGGBB colour."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), from 1 (same colour) to 21 (black on white)."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@dataclass(frozen=True)
class ContrastProblem:
    setting: str
    ratio: float
    where: str   # translated


def weakest_contrast(setting: str, colour: str) -> ContrastProblem | None:
    """The pairing of this colour that falls below AA, the worst one; None if all are readable."""
    ratios = [(contrast_ratio(colour, other), str(where)) for other, where in PAIRINGS.get(setting, ())]
    worst = min(ratios, default=None)
    if worst is None or worst[0] >= AA_TEXT:
        return None
    return ContrastProblem(setting, worst[0], worst[1])
