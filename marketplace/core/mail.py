"""E-mails in the recipient's language.

Every e-mail the shop sends is a composer registered with `@email_template`: a function of plain
values (references, names, amounts in cents) that returns (subject, body) built with `_()`.
`send_email(user, composer, **values)` runs the composer under the recipient's language (their
account setting, else the coop's default), so amounts and words never follow the language of the
person or task that triggered the e-mail. Composers live in each domain's `emails.py`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from flask import current_app
from flask_babel import force_locale

from marketplace.core.models import OutboundEmail
from marketplace.core.services import queue_email

Composer = Callable[..., tuple[str, str]]
C = TypeVar("C", bound=Composer)


class Recipient(Protocol):
    email: str
    locale: str | None


@dataclass(frozen=True)
class EmailTemplate:
    name: str
    compose: Composer
    example: dict[str, Any] = field(default_factory=dict)  # values to render it with in tests and previews


TEMPLATES: dict[str, EmailTemplate] = {}


def email_template(**example: Any) -> Callable[[C], C]:
    """Register a composer; `example` holds sample values (every parameter) to render it without a database."""

    def register(compose: C) -> C:
        name = template_name(compose)
        TEMPLATES[name] = EmailTemplate(name, compose, example)
        return compose

    return register


def template_name(compose: Composer) -> str:
    """"domain.function": how a stored message (e.g. a payment alert) names its composer."""
    return f"{compose.__module__.rsplit('.', 2)[-2]}.{compose.__name__}"


def render_stored(name: str, values_json: str) -> tuple[str, str] | None:
    """A stored message worded now, in the current language; None if its composer is gone."""
    import json

    template = TEMPLATES.get(name)
    if template is None:
        return None
    try:
        subject, body = template.compose(**json.loads(values_json or "{}"))
    except (TypeError, ValueError):
        return None
    return str(subject), str(body)


def language_of(user: Recipient | None) -> str:
    """The language a member reads: their own choice, else the coop's default."""
    languages = current_app.config["LANGUAGES"]
    chosen = getattr(user, "locale", None)
    return chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def render_email(language: str, compose: Composer, **values: Any) -> tuple[str, str]:
    with force_locale(language):
        subject, body = compose(**values)
        return str(subject), str(body)


def send_email(user: Recipient, compose: Composer, **values: Any) -> OutboundEmail:
    """Queue the e-mail `compose` writes, in `user`'s language (same transaction as the change it reports)."""
    subject, body = render_email(language_of(user), compose, **values)
    return queue_email(user.email, subject, body)
