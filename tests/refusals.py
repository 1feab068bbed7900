"""How a test reads a refused action button: a 303 back to a page that shows the reason (web.perform)."""
from __future__ import annotations

import html
import re

_ERROR_FLASH = re.compile(r'<div class="flash flash-error" role="alert">(.*?)</div>', re.S)


def flashed_errors(page: str) -> list[str]:
    """The error messages a page shows at its top, unescaped."""
    return [html.unescape(m).strip() for m in _ERROR_FLASH.findall(page)]


def refused(client, url: str, data: dict | None = None, **kwargs) -> tuple[str, list[str]]:
    """POST `url`, expect a 303 back, follow it: (where it went, the errors flashed on that page)."""
    response = client.post(url, data=data or {}, **kwargs)
    assert response.status_code == 303, f"{url} answered {response.status_code}, not a 303 back"
    location = response.headers["Location"]
    page = client.get(location)
    assert page.status_code == 200, f"{location} answered {page.status_code}"
    return location, flashed_errors(page.get_data(as_text=True))
