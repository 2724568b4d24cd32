"""The rule catalog's message templates: how a variant is picked, and what the loader refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgguard.registry import load_rules

SHARED = """\
[traits.user]
doc = "per-user"

[traits.django]
doc = "Django"
modules = ["django"]

[traits.sqlalchemy]
doc = "SQLAlchemy"
modules = ["sqlalchemy"]

[parts]
where_own = " in {function}()"

[fields]
function = "the function"
model = "the model"
"""

RULE = """\
code = "ORG999"
name = "test-rule"
path_class = "public"
seed = "s"
severity = "error"
summary = "s"
message = "{model} read{where_own}; {fix}"
checker = "x:Y"
{extra}

[docs]
what = "w"
why = "w"
example = "x = 1"
use_instead = "x = 1"
options = "o"
references = []
"""

FIX = """\
[parts.fix]
default = "scope it"
django = "use {model}.objects.for_org(ctx)"
sqlalchemy = "make {model} OrgScoped"
"django+user" = "filter by request.user"
"""


def _catalog(tmp_path: Path, extra: str, shared: str = SHARED) -> Path:
    (tmp_path / "messages.toml").write_text(shared)
    (tmp_path / "ORG999.toml").write_text(RULE.replace("{extra}", extra))
    return tmp_path


def test_the_variant_with_the_most_traits_wins_and_ties_go_to_the_first_declared_trait(tmp_path: Path) -> None:
    (rule,) = load_rules(_catalog(tmp_path, FIX))
    values = {"model": "Invoice", "function": "f"}
    assert rule.render(values) == "Invoice read in f(); scope it"
    assert rule.render(values, traits={"django"}) == "Invoice read in f(); use Invoice.objects.for_org(ctx)"
    assert rule.render(values, traits={"django", "user"}) == "Invoice read in f(); filter by request.user"
    assert rule.render(values, traits={"user"}) == "Invoice read in f(); scope it"
    # django is declared before sqlalchemy
    assert rule.render(values, traits={"sqlalchemy", "django"}).endswith("use Invoice.objects.for_org(ctx)")
    assert rule.phrase("fix", values, {"sqlalchemy"}) == "make Invoice OrgScoped"
    with pytest.raises(KeyError, match=r"needs a value for \{model\}"):
        rule.render({"function": "f"})


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ('[parts]\nfix = "see {nothing}"', r"fix uses \{nothing\}, neither a declared field nor a part"),
        ('[parts.fix]\ndjango = "x"', r"parts.fix needs a `default` variant"),
        ('[parts.fix]\ndefault = "x"\nflask = "y"', r"parts.fix.flask: unknown trait 'flask'"),
        ('[parts]\nfix = "a {fix}"', r"'fix' contains itself \(message -> fix -> fix\)"),
        ('[parts]\nfix = "{model!r}"', r"placeholder \{model\} must be a plain lower-case name"),
        ('[messages]\nmodel = "x"\n[parts]\nfix = "f"', r"messages.model: a message shape cannot share its name"),
        ('[parts]\nfix = "f"\n[fields]\nunused = "never shown"', r"\['unused'\] are used by no message template"),
        ("[parts]\nfix = 3", r"fix must be a string or a table of trait variants"),
    ],
)
def test_a_malformed_template_is_refused_naming_the_file_and_key(tmp_path: Path, extra: str, error: str) -> None:
    with pytest.raises(ValueError, match=error) as refused:
        load_rules(_catalog(tmp_path, extra))
    assert "ORG999.toml" in str(refused.value)
