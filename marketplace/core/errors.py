"""Errors raised by services; the web layer turns them into a message and a 4xx status."""
from __future__ import annotations


class ServiceError(Exception):
    """A rule said no. The message is meant for the person who tried."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Unavailable(ServiceError):
    """A feature the coop has not configured (e.g. card payments without a Stripe key)."""

    status_code = 503
