"""Schemathesis against the generated OpenAPI document: no 500, and no response that breaks the schema.

Examples per operation are bounded (BANLI_API_EXAMPLES, default 10) so the suite stays fast; raise it for
a deeper run, e.g. `BANLI_API_EXAMPLES=300 pytest tests/test_api_contract.py`.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, negative_data_rejection,
                                              response_headers_conformance, response_schema_conformance,
                                              status_code_conformance)
from schemathesis.checks import not_a_server_error

from engine.people.tokens import SCOPES, create_token
from tests.conftest import user

EXAMPLES = int(os.environ.get("BANLI_API_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, ignored_auth]


def _document() -> dict:
    """The OpenAPI document as the app generates it (it does not depend on the database)."""
    from web import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "test"})
    return app.test_client().get("/api/v1/openapi.json").get_json()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture
def tokens(demo_db):
    with demo_db.transaction() as s:
        return {name: create_token(s, user(s, name), "contract", list(SCOPES), 1)[1] for name in ("office", "admin")}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_api_keeps_its_contract(case, server, tokens):
    admin_only = case.operation.path.startswith(("/api/v1/processes", "/api/v1/incidents"))
    case.call_and_validate(base_url=server, checks=CHECKS,
                           headers={"Authorization": f"Bearer {tokens['admin' if admin_only else 'office']}"})


def test_stateful_links_from_a_registered_item(server, tokens):
    """Schemathesis follows the document's links: register, then read, list deadlines of and withdraw what
    was registered, checking every response against the schema."""
    from hypothesis.stateful import run_state_machine_as_test

    machine = schema.as_state_machine()

    class AgainstTheServer(machine):
        def get_call_kwargs(self, case):
            return {"base_url": server, "headers": {"Authorization": f"Bearer {tokens['office']}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    run_state_machine_as_test(AgainstTheServer, settings=settings(
        max_examples=max(EXAMPLES // 3, 3), stateful_step_count=3, deadline=None,
        suppress_health_check=list(HealthCheck), derandomize=True))
