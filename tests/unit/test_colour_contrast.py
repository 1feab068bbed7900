"""The coop's configurable colours are checked for WCAG AA contrast when an admin saves them (issue 16 item 7)."""
import pytest

from marketplace.core.contrast import contrast_ratio, weakest_contrast
from marketplace.core.services import get_setting
from marketplace.extensions import db
from tests.factories import get_admin, login


def test_contrast_ratio_follows_wcag():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert weakest_contrast("colour_primary", "#2f6b3a") is None       # the default green
    assert weakest_contrast("colour_accent", "#e8a33d") is None        # the default amber under dark text
    problem = weakest_contrast("colour_primary", "#88cc88")
    assert problem.ratio < 4.5 and "white text" in problem.where or "links" in problem.where


@pytest.mark.parametrize("key, colour", [("colour_primary", "#99cc99"), ("colour_accent", "#334455")])
def test_an_unreadable_colour_is_refused_with_the_reason(app, client, key, colour):
    admin = get_admin()
    db.session.commit()
    login(client, admin)
    form = {"coop_name": "Coop", "colour_primary": "#2f6b3a", "colour_accent": "#e8a33d", "share_nominal": "20",
            "weight_margin_percent": "20", key: colour}
    response = client.post("/admin/settings", data=form)
    assert response.status_code == 400
    assert "is hard to read" in response.get_data(as_text=True)
    assert get_setting(key) != colour
