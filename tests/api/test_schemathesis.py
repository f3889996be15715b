"""schemathesis against the app's OpenAPI document, with a valid office token: no 5xx, and
every response conforms to the documented status codes, content types and schemas.

Each operation gets a bounded number of generated requests, valid (positive) and invalid
(negative), so the run stays well under a minute per database. The same run from the command
line is in the README's developer section.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import OFFICE

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 10


def test_no_server_errors_and_no_schema_violations(api):
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = api.auth(OFFICE)
    ran, statuses = [], Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case):
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses[response.status_code // 100] += 1

            check()
        ran.append(operation.label)
    assert len(ran) == 15, ran
    assert statuses[2] > 0 and statuses[4] > 0 and 5 not in statuses, statuses
