"""The code a fork does not edit holds nothing of the default data (fast checks).

``test_adapt.py`` proves the whole path on a second data set; these pin the small pieces
that used to carry the default's values: the service's OpenAPI example of an open category
and the service name when ``params.yaml`` gives none.
"""

from __future__ import annotations

from mlops.core.config import SchemaParams
from mlops.serving.api import example_record, record_model

SCHEMA = SchemaParams.model_validate(
    {
        "target": "churned",
        "time": "snapshot_at",
        "forbidden": ["customer_id"],
        "slices": {},
        "features": {
            "plan": {"type": "category", "values": ["basic", "premium"]},
            "region": {"type": "category"},
            "city": {"type": "category", "example": "Lyon"},
            "tenure_months": {"type": "int", "min": 0, "max": 600, "example": 12},
            "charges": {"type": "float", "min": 0, "max": 100},
        },
    }
)


def test_examples_come_from_the_schema_or_are_neutral():
    example = example_record(SCHEMA)
    assert example == {
        "plan": "basic",  # the first known value
        "region": "example",  # an open set with no example: a neutral placeholder
        "city": "Lyon",  # schema.features.<name>.example
        "tenure_months": 12,
        "charges": 25.0,  # a quarter into [min, max]
    }
    record_model(SCHEMA).model_validate(example)  # the example is a valid request
