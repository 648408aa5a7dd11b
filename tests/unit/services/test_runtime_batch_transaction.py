"""The batch transaction's BEGIN: settings go into SQL text, so only known values pass."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.runtime.batch_transaction import begin_statement
from services.runtime.settings import ServiceSettings
from services.scoring.settings import ScoringSettings


def test_the_begin_carries_the_plan_cache_mode_as_a_local_setting():
    assert begin_statement("force_generic_plan") == (
        "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
    assert begin_statement("") is None


def test_an_unknown_mode_is_refused_before_it_reaches_sql():
    with pytest.raises(ValueError, match="plan_cache_mode must be one of"):
        begin_statement("auto; DROP TABLE inbox")
    with pytest.raises(ValidationError, match="consumer_plan_cache_mode"):
        ServiceSettings(consumer_plan_cache_mode="generic")


def test_scoring_plans_its_batch_statements_once_per_connection_others_keep_the_servers():
    assert ScoringSettings().consumer_plan_cache_mode == "force_generic_plan"
    assert ServiceSettings().consumer_plan_cache_mode == ""
