"""Catalog's reactions to membership events: an approved producer gets a public profile to sell from."""
from __future__ import annotations

from marketplace.catalog.services import ensure_producer_profile
from marketplace.members import signals
from marketplace.members.models import College


@signals.membership_approved.connect
def create_producer_profile(membership, **_extra) -> None:
    if membership.college == College.PRODUCER:
        ensure_producer_profile(membership.user)
