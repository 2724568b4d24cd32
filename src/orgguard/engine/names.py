"""Mistakes are loud: a ``tenant-model``, ``membership-model`` or project pack entry that names nothing in
the project is a configuration error naming the key and the closest names that exist.

A misspelt tenant model switches most rules off without a word (``"Organisation"`` in an app whose model
is ``Organization``), so the names the settings give are checked once the project index is built: a name
exists when the index knows it (a project class or model, a base class, a relation target such as
``ForeignKey("openwisp_users.Organization")``, a project function), else when the project's code uses it
anywhere outside comments (an import, ``Organization = load_model(...)``, a call, an attribute). That
covers models and helpers that live in installed packages, as long as the project refers to them.
``User`` always exists: the framework's user model may never be named (``settings.AUTH_USER_MODEL``).

Only names the user wrote are checked: a default tenant or membership model that the project does not
have is not a mistake, and the bundled packs name framework code a project need not use. The check runs
where the index is built (a run whose index comes from the cache passed it already), and costs nothing
for a project that names nothing: the index is asked first, the sources' text only for what it lacks.

The suggestions come from the same index (:func:`tenant_candidates` is ``orgguard init``'s detector too).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from orgguard.config import Config, ConfigError
from orgguard.engine.records import ProjectIndex
from orgguard.knowledge import load_pack, pack_schema

ALWAYS_KNOWN = frozenset({"User"})
TENANT_NAMES = ("Organization", "Organisation", "Org", "Team", "Workspace", "Account", "Tenant", "Company", "Project")

# knowledge-pack keys whose entries name a class or a function (or method); the other keys hold
# attribute and parameter names, expressions, globs, name fragments or settings (tests check that every
# key of rules/frameworks/_schema.toml is in one of the two)
NAMING_KEYS = frozenset(
    {
        "models.bases",
        "models.foreign_keys",
        "models.declared_attributes",
        "admin.dependencies",
        "models.scoped_managers",
        "models.scope_disablers",
        "models.user_models",
        "models.scoped_bases",
        "queries.shortcuts",
        "queries.statement_builders",
        "queries.subquery_wrappers",
        "queries.outer_references",
        "queries.scoping_methods",
        "queries.predicate_builders",
        "queries.raw_sql_calls",
        "queries.scoped_sessions",
        "queries.audited_bypasses",
        "queries.session_installers",
        "requests.view_bases",
        "requests.view_decorators",
        "requests.create_only_bases",
        "requests.list_bases",
        "requests.kwarg_views",
        "requests.scoping_mixins",
        "requests.model_views",
        "requests.fetching_bases",
        "requests.asgi_request_types",
        "requests.resolver_bases",
        "sources.input_calls",
        "sources.body_types",
        "trusted.resolvers",
        "trusted.dependency_markers",
        "guards.functions",
        "guards.decorators",
        "guards.permission_classes",
        "guards.mixins",
        "guards.object_checks",
        "guards.row_checks",
        "stripe.id_calls",
        "stripe.verify_calls",
        "stripe.unverified_calls",
        "webhooks.decorators",
        "jobs.decorators",
        "jobs.enqueue_calls",
        "jobs.command_bases",
        "jobs.command_decorators",
        "jobs.schedule_calls",
        "exports.writer_calls",
        "admin.decorators",
        "admin.bases",
        "admin.permission_classes",
        "admin.membership_checks",
        "audit.log_calls",
    }
)
OTHER_KEYS = frozenset(
    {
        "requests.url_functions",
        "models.managers",
        "models.user_model_refs",
        "models.secret_fields",
        "models.login_fields",
        "models.owner_fields",
        "models.public_flags",
        "models.time_fields",
        "models.tenant_bases",
        "queries.methods",
        "queries.lookup_methods",
        "queries.where_methods",
        "queries.session_calls",
        "queries.write_methods",
        "queries.filter_appliers",
        "queries.subquery_methods",
        "queries.in_operators",
        "queries.statement_replacers",
        "queries.raising_fetches",
        "queries.row_fetches",
        "queries.join_methods",
        "guards.permission_hooks",
        "requests.handler_params",
        "requests.anonymous_permission_classes",
        "requests.route_decorators",
        "requests.resolver_modules",
        "requests.resolver_decorators",
        "requests.resolver_methods",
        "requests.handler_methods",
        "requests.class_query_attrs",
        "requests.filter_backends",
        "requests.queryset_hooks",
        "requests.object_hooks",
        "sources.request_names",
        "sources.request_attrs",
        "sources.request_methods",
        "sources.kwarg_attrs",
        "sources.session_names",
        "sources.neutral_param_types",
        "sources.param_markers",
        "sources.input_exprs",
        "trusted.org_sources",
        "guards.membership_attrs",
        "guards.parent_hooks",
        "stripe.id_kwargs",
        "stripe.namespaces",
        "stripe.event_id_attrs",
        "webhooks.path_markers",
        "webhooks.name_markers",
        "jobs.command_modules",
        "jobs.schedule_keys",
        "jobs.schedule_task_keys",
        "requests.fetching_handlers",
        "exports.name_prefixes",
        "admin.shared_secrets",
        "admin.debug_settings",
        "admin.path_prefixes",
        "admin.object_params",
        "admin.staff_attrs",
        "admin.operator_flags",
        "audit.actor_kwargs",
        "audit.silent_actors",
        "audit.model_markers",
        "settings.permissive",
        "settings.dev_markers",
    }
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER_BYTES = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_WORD_BYTE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def named(entry: str) -> str | None:
    """The identifier an entry names: the last part of a dotted name, call parentheses dropped
    (``stripe.Webhook.construct_event`` -> ``construct_event``, ``.delay`` -> ``delay``). None for an
    entry that is not a dotted name (a glob, a fragment)."""
    text = entry.strip().removesuffix("()")
    last = text.rsplit(".", 1)[-1]
    return last if _IDENTIFIER.fullmatch(last) else None


def _in_code(data: bytes, word: bytes) -> bool:
    """Whether ``word`` occurs in ``data`` as a whole identifier, on a line no ``#`` comments out before it."""
    start = data.find(word)
    while start >= 0:
        end = start + len(word)
        whole = (start == 0 or data[start - 1] not in _WORD_BYTE) and (end == len(data) or data[end] not in _WORD_BYTE)
        if whole and b"#" not in data[data.rfind(b"\n", 0, start) + 1 : start]:
            return True
        start = data.find(word, end)
    return False


class ProjectNames:
    """Whether an identifier is something of the project: the index's names first, then the sources' text."""

    def __init__(self, index: ProjectIndex, sources: Iterable[bytes]) -> None:
        self._index = index
        self._sources = sources
        self._texts: list[bytes] | None = None

    def in_index(self, name: str) -> bool:
        """A project class or model, a base class, a relation target, a project function (no set is built:
        most names are models, found at once, and the run's heap is large)."""
        index = self._index
        if name in index.models or name in index.classes:
            return True
        dotted = f".{name}"
        return (
            any(q.endswith(dotted) for q in index.functions)
            or any(b == name or b.endswith(dotted) for infos in index.classes.values() for i in infos for b in i.bases)
            or any(t == name or t.endswith(dotted) for m in index.models.values() for _f, t in m.relations)
        )

    def texts(self) -> list[bytes]:
        if self._texts is None:
            self._texts = list(self._sources)
        return self._texts

    def __contains__(self, name: str) -> bool:
        if name in ALWAYS_KNOWN or self.in_index(name):
            return True
        word = name.encode()
        return any(_in_code(data, word) for data in self.texts())

    def identifiers(self) -> set[str]:
        """Every identifier of the project (for suggestions, on a mistake's path only)."""
        index = self._index
        found = {*index.models, *index.classes, *(q.rsplit(".", 1)[-1] for q in index.functions)}
        return found | {m.decode() for data in self.texts() for m in _IDENTIFIER_BYTES.findall(data)}


def tenant_candidates(index: ProjectIndex) -> list[tuple[str, int]]:
    """Models named like a tenant that other models relate to, most referenced first: ``(model, count)``."""
    refs = _relation_counts(index)
    found = [
        (model, refs[model])
        for model in index.models
        if model in TENANT_NAMES and refs[model] > 0 and not index.models[model].abstract
    ]
    found.sort(key=lambda item: (-item[1], TENANT_NAMES.index(item[0])))
    return found


def membership_candidates(index: ProjectIndex, tenant: str) -> list[str]:
    """Models relating users to ``tenant`` (``...Member...``, ``...User``)."""
    out = []
    for name, info in sorted(index.models.items()):
        targets = {_target(index, t) for _f, t in info.relations}
        if tenant in targets and "User" in targets and ("Member" in name or name.endswith("User")):
            out.append(name)
    return out


def _target(index: ProjectIndex, target: str) -> str:
    return index.tables.get(target[6:], target) if target.startswith("table:") else target


def _relation_counts(index: ProjectIndex) -> Counter[str]:
    refs: Counter[str] = Counter()
    for name, info in index.models.items():
        refs.update({m for _f, t in info.relations if (m := _target(index, t)) != name})
    return refs


def _did_you_mean(name: str, pool: Iterable[str], fallback: Sequence[str] = ()) -> str:
    close = difflib.get_close_matches(name, sorted(set(pool)), n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(f'"{c}"' for c in close) + "?"
    if fallback:
        return "; the project has " + ", ".join(f'"{c}"' for c in fallback[:5])
    return ""


def check_names(config: Config, index: ProjectIndex, sources: Iterable[bytes], user_packs: Sequence[Path]) -> None:
    """Raise :class:`ConfigError` for the first name the settings or a project pack give that the project
    does not have. ``sources``: the project files' bytes (read only when the index lacks a name)."""
    names = ProjectNames(index, sources)
    where = str(config.source) if config.source else "configuration"
    for key, values, kind in (
        ("tenant-model", config.tenant_models, "tenant"),
        ("membership-model", config.membership_models, "membership"),
        ("shared-models", config.shared_models, "shared"),
    ):
        if key not in config.explicit_keys:
            continue
        for value in values:
            name = named(value)
            if name is None or name in names:
                continue
            candidates = tenant_candidates(index)
            if kind == "tenant":
                fallback = [m for m, _n in candidates]
            elif kind == "membership":
                fallback = [m for t in config.tenant_models for m in membership_candidates(index, t)]
            else:
                fallback = sorted(index.tenant_paths)
            pool = [*index.models, *index.classes, *fallback]
            raise ConfigError(
                f'{where}: [tool.orgguard] {key} "{value}" names no class in the project'
                + _did_you_mean(value, pool, fallback)
            )
    schema = pack_schema()
    for pack in user_packs:
        for key, entries in load_pack(pack, schema).items():
            if key not in NAMING_KEYS:
                continue
            for entry in entries:
                name = named(entry)
                if name is None or name in names:
                    continue
                raise ConfigError(
                    f'{pack}: {key} "{entry}" names no class or function in the project'
                    + _did_you_mean(name, names.identifiers())
                )


__all__ = [
    "NAMING_KEYS",
    "OTHER_KEYS",
    "ProjectNames",
    "check_names",
    "membership_candidates",
    "named",
    "tenant_candidates",
]
