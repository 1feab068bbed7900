"""Schemathesis drives every operation of the OpenAPI document through WSGI: never a 500."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from marketplace.api import services as api
from marketplace.extensions import db
from tests.admin_fixtures import build_coop


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": False}


@pytest.fixture
def api_setup(app):
    coop = build_coop()
    _row, token = api.create_token(coop["ferme"], "schemathesis")
    db.session.commit()
    return app, token


def test_no_server_error(api_setup):
    """Every operation, max 30 generated requests each (bounded), with a valid producer token."""
    app, token = api_setup
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    seen = []
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            db.session.rollback()
            if response.status_code >= 500 or (response.status_code >= 400 and "error" not in response.json()):
                failures.append((case.method, case.formatted_path, case.body, response.status_code,
                                 response.text[:300]))

        run()
    assert len(seen) == 8, seen
    assert failures == []
