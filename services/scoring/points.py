"""How a rule set prices a fact, as one SQL expression, so live totals, the breakdown and
what-if are the same arithmetic done by PostgreSQL over whole sets of facts.

`rules` is a JSON rule set (`ScoringRules`) merged over the published defaults, so a rule set
stored before a field existed still prices it. A fact whose rule earns nothing (a rejected
initiative, a pledge target not met) is priced 0 and still listed in the breakdown.
"""

from __future__ import annotations

from contracts.events.rules import ScoringRules

# The facts' rules and the ScoringRules field that prices each one.
PRICED_BY = {
    "initiative_submitted": "participation_points",
    "emulation_registered": "participation_points",
    "pledge_target_met": "pledge_target_met_points",
    "work_registered": "plaqued_work_points",
}
# Rules that earn nothing but keep a fact in the breakdown and the pledge measure.
UNPRICED = ("initiative_rejected", "pledge_target_pending", "pledge_target_missed")

DEFAULTS_JSON = ScoringRules().model_dump_json()


def prices(rules: str) -> str:
    """The select list of a rule set's prices, once per rule set: `rules` is a jsonb expression
    (defaults merged in). Extracting them once, rather than reading the JSON for every fact,
    is most of the cost of pricing a batch."""
    scalars = ", ".join(
        f"({rules}->>'{field}')::numeric AS {field}" for field in dict.fromkeys(PRICED_BY.values())
    )
    return f"{scalars}, {rules}->'initiative_points' AS initiative_points"


def points_of(fact: str, price: str) -> str:
    """The SQL expression of the points `fact` (a facts row alias) earns at the prices of
    `price` (a row alias with the columns of `prices`)."""
    flat = "\n".join(
        f"WHEN '{rule}' THEN {price}.{field}" for rule, field in PRICED_BY.items()
    )
    return f"""(CASE {fact}.rule
        {flat}
        WHEN 'initiative_accepted'
            THEN coalesce(({price}.initiative_points->{fact}.level->>{fact}.grade)::numeric, 0)
        ELSE 0 END)"""


def campaign_rules_of(campaign_rules: str, defaults_param: str) -> str:
    """The rule set of a campaign_rules row (null when its launch is unseen) over the defaults."""
    return f"({defaults_param}::jsonb || coalesce({campaign_rules}.scoring, '{{}}'::jsonb))"
