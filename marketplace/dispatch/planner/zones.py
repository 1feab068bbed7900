"""Delivery zones: a delivery's skills are the zones it lies in; a courier serves only the zones they cover."""

from __future__ import annotations

from .model import Courier, Delivery


def can_serve(courier: Courier, delivery: Delivery) -> bool:
    """The courier covers every skill (zone) the delivery needs."""
    return courier.skills is None or delivery.skills <= courier.skills


def _vroom_skills(courier: Courier, all_skills: frozenset[int]) -> set[int]:
    # VROOM has no "any skill" vehicle: a courier without restriction gets every skill in use.
    return set(all_skills) if courier.skills is None else set(courier.skills)
