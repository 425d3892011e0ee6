"""Property-based fuzz of the service's own OpenAPI spec (schemathesis + hypothesis):
valid and invalid requests to every operation, and not one 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

pytestmark = pytest.mark.slow

EXAMPLES = 150  # bounded: about 15 s against a local server


def test_fuzzing_the_openapi_spec_finds_no_server_error(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/docs.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/predict", "/predict_batch"} <= {op.path for op in operations}
    strategies = [
        op.as_strategy(generation_mode=mode)
        for op in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if op.method.upper() == "POST" or mode is GenerationMode.POSITIVE
    ]
    seen: dict[str, set[int]] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case):
        response = case.call(base_url=server.url, timeout=30)
        seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.path} body={case.body!r:.300} -> "
            f"{response.status_code} {response.text[:300]}"
        )

    check()
    statuses = set().union(*seen.values())
    assert 200 in statuses and any(400 <= s < 500 for s in statuses), seen
