"""Each service's README shows every route and who may call it, exactly as the routes declare
it (`access.route_table`): a new route or a changed rule must be documented to pass."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from services.runtime.access import route_table
from services.runtime.http import create_app
from tests.support.identity import auth_settings
from tests.unit.services.test_http_openapi import DEFINITIONS

SERVICES_DIR = Path(__file__).parents[3] / "services"


def table_of(name: str) -> str:
    definition = DEFINITIONS[name]()
    settings = definition.settings.model_copy(update=auth_settings())
    return route_table(create_app(dataclasses.replace(definition, settings=settings)).routes)


@pytest.mark.parametrize("name", DEFINITIONS)
def test_the_readme_has_the_route_table_of_the_service(name):
    readme = (SERVICES_DIR / name / "README.md").read_text()
    expected = table_of(name)
    assert expected in readme, f"services/{name}/README.md lacks its route table:\n{expected}"
