"""The one vocabulary both passes speak: what a dotted name means, decided on text alone.

The index scan reads files with :mod:`ast`, the checkers with LibCST; each turns its own syntax into
dotted text (``request.user.organizations``, ``stripe.Webhook.construct_event``) and asks the functions
here what it is: the signed-in user, a trusted tenant, request input, a knowledge-pack entry. So every
concept has one definition and one matcher, whichever pass asks (tests/test_vocab_parity.py runs both
passes over the same snippets and demands the same answers).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from orgguard.knowledge import Knowledge

REQUEST = "request"
SESSION = "session"

# the signed-in user, strictly
SIGNED_IN = (
    "request.user",
    "self.request.user",
    "current_user",
    "g.user",
    "flask_login.current_user",
    # a GraphQL resolver's: Graphene-Django's context is the request, Strawberry-Django's holds it
    "info.context.user",
    "info.context.request.user",
)
SIGNED_IN_CALLS = ("get_user_id", "current_user_id", "get_current_user")
# the signed-in user in a helper's own words (a parameter named user, an actor)
USERISH = ("user", "current_user", "request.user", "self.request.user", "g.user", "actor", "user_id")
# the answers on a dotted text are remembered (both passes ask about the same few thousand texts again and
# again); they depend on the text and the knowledge sets only, which are immutable
MEMO_SIZE = 16_384


def short(text: str) -> str:
    """The last dotted component, without a trailing ``()``: ``a.b.c()`` -> ``c``."""
    return text.rstrip("()").rsplit(".", 1)[-1]


def _bare(text: str) -> str:
    return text.removesuffix(".id").removesuffix(".pk").removesuffix("()")


def is_signed_in_user(text: str) -> bool:
    """Strictly the signed-in user (or its id): ``request.user``, ``current_user.id``, ``get_user_id()``."""
    text = _bare(text)
    return text in SIGNED_IN or text.rsplit(".", 1)[-1] in SIGNED_IN_CALLS


def owned_rows(texts: Sequence[str], owner_fields: Iterable[str], login_fields: Iterable[str]) -> Iterator[str]:
    """The variables whose own row a comparison of ``texts`` (its operands, dotted) ties to the signed-in user."""
    for i, text in enumerate(texts):
        for j, other in enumerate(texts):
            if i != j and text and other:
                owned = owned_row(text, other, owner_fields, login_fields)
                if owned:
                    yield owned


def owned_row(row_text: str, other_text: str, owner_fields: Iterable[str], login_fields: Iterable[str]) -> str:
    """The variable whose own row a comparison ties to the signed-in user, or "": ``note.created_by`` against
    ``request.user`` (``note.created_by_id`` against ``request.user.id``: an owner field), or
    ``invitation.email`` against ``request.user.email`` (a login field against the same field of the user)."""
    head, _, attr = row_text.rpartition(".")
    if not head or "." in head or head in ("self", "request", "cls"):
        return ""
    if attr.removesuffix("_id") in owner_fields and is_signed_in_user(other_text):
        return head
    user, _, same = other_text.rpartition(".")
    if attr in login_fields and same == attr and is_signed_in_user(user):
        return head
    return ""


@functools.lru_cache(maxsize=MEMO_SIZE)
def is_userish(text: str) -> bool:
    """The signed-in user or its id, as helpers name it: ``user``, ``request.user``, ``self.user.pk``."""
    text = _bare(text)
    return text in USERISH or text.endswith((".user", "_user")) or text.rsplit(".", 1)[-1] in SIGNED_IN_CALLS


def entry_matches(qualified: str, entry: str) -> bool:
    """Whether one knowledge-pack entry names ``qualified`` (a dotted name resolved through the imports).

    A bare entry (``verify_event``) matches the last component; a dotted entry
    (``stripe.Webhook.construct_event``) matches the end of the name at a dot; an entry with ``*`` is a
    glob on the last component or on the whole name (``*event_without_verification``).
    """
    qualified = qualified.removesuffix("()")
    if not qualified or not entry:
        return False
    last = qualified.rsplit(".", 1)[-1]
    if "*" in entry:
        return fnmatch.fnmatchcase(last, entry) or fnmatch.fnmatchcase(qualified, entry)
    if "." not in entry:
        return last == entry
    return qualified == entry or qualified.endswith("." + entry)


@dataclass(frozen=True)
class _Entries:
    """A knowledge set split once: bare names, dotted entries (as ``.suffix`` too), globs as one regex."""

    bare: frozenset[str]
    dotted: frozenset[str]
    suffixes: tuple[str, ...]
    globs: re.Pattern[str] | None


@functools.lru_cache(maxsize=256)
def _compiled(entries: frozenset[str]) -> _Entries:
    globs = sorted(e for e in entries if "*" in e)
    dotted = frozenset(e for e in entries if "*" not in e and "." in e)
    return _Entries(
        bare=frozenset(e for e in entries if "*" not in e and "." not in e),
        dotted=dotted,
        suffixes=tuple(sorted("." + e for e in dotted)),
        globs=re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)) if globs else None,
    )


def matches_any(qualified: str, entries: Iterable[str]) -> bool:
    """Whether any knowledge entry names ``qualified`` (see :func:`entry_matches`)."""
    if not isinstance(entries, frozenset):
        return any(entry_matches(qualified, entry) for entry in entries)
    return _matches_any(qualified, entries)


@functools.lru_cache(maxsize=MEMO_SIZE)
def _matches_any(qualified: str, entries: frozenset[str]) -> bool:
    qualified = qualified.removesuffix("()")
    if not qualified:
        return False
    compiled = _compiled(entries)
    last = qualified.rsplit(".", 1)[-1]
    if last in compiled.bare or qualified in compiled.dotted:
        return True
    if compiled.suffixes and qualified.endswith(compiled.suffixes):
        return True
    return compiled.globs is not None and (
        compiled.globs.match(last) is not None or compiled.globs.match(qualified) is not None
    )


def is_trusted_expr(text: str, trusted: Iterable[str]) -> bool:
    """Whether a dotted expression starts at a trusted tenant/user source (``self.`` optional)."""
    if not text:
        return False
    return _is_trusted_expr(text, trusted if isinstance(trusted, frozenset) else frozenset(trusted))


@functools.lru_cache(maxsize=MEMO_SIZE)
def _is_trusted_expr(text: str, patterns: frozenset[str]) -> bool:
    for candidate in (text, text[5:] if text.startswith("self.") else ""):
        if not candidate:
            continue
        parts = candidate.split(".")
        for i in range(1, len(parts) + 1):
            if ".".join(parts[:i]) in patterns:
                return True
    return False


def request_source(text: str, knowledge: Knowledge) -> tuple[str, str] | None:
    """``(text, kind)`` when a dotted expression reads client input: ``request.GET``, ``self.kwargs``,
    ``request.session`` (kind ``session``), ``request.get_host()``; else None."""
    if not text:
        return None
    kind = _request_kind(
        text,
        knowledge["sources.session_names"],
        knowledge["sources.request_names"],
        _union(knowledge["sources.request_attrs"], knowledge["sources.request_methods"]),
        _union(knowledge["sources.kwarg_attrs"], knowledge["sources.input_exprs"]),
    )
    return (text, kind) if kind else None


@functools.lru_cache(maxsize=256)
def _union(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    return a | b


@functools.lru_cache(maxsize=MEMO_SIZE)
def _request_kind(
    text: str, sessions: frozenset[str], names: frozenset[str], members: frozenset[str], exprs: frozenset[str]
) -> str:
    """``session``, ``request`` or "" (see :func:`request_source`): request attributes and methods are ``members``,
    the URL kwargs and input expressions ``exprs``."""
    for session in sessions:
        if text == session or text.startswith(session + "."):
            return SESSION
    for name in names:
        if text.startswith(name + "."):
            rest = text[len(name) + 1 :].split(".", 1)[0].rstrip("()")
            if rest in members:
                return REQUEST
    for attr in exprs:
        if text == attr or text.startswith(attr + "."):
            return REQUEST
    return ""


def reads_input_call(text: str, knowledge: Knowledge) -> bool:
    """``parser.parse_args()``: client input when a request handler calls it."""
    return text.endswith("()") and short(text) in knowledge["sources.input_calls"]


def is_refusing_call(name: str) -> bool:
    """``abort(403)``, ``deny()``: a call that ends the request."""
    return short(name) in ("abort", "deny", "forbid")


def is_error_response(text: str) -> bool:
    """``HttpResponseForbidden``, ``Response(status=403)``-style names, ``redirect``."""
    return any(w in text for w in ("Forbidden", "NotFound", "Denied", "403", "404", "redirect"))


def module_name(relpath: str) -> str:
    """``app/services/things.py`` -> ``app.services.things``; a package's ``__init__.py`` is the package."""
    path = relpath.removesuffix(".py")
    if path.endswith("/__init__") or path == "__init__":
        path = path[: -len("__init__")].rstrip("/")
    return path.replace("/", ".") if path else "__init__"


def absolute_module(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of ``from <level dots><name> import ...`` written in ``module`` (both passes read
    imports with it)."""
    if level == 0:
        return name or ""
    parts = module.split(".") if module != "__init__" else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if name:
        return f"{base}.{name}" if base else name
    return base


def tenant_attrs(tenant_fields: Iterable[str], tenant_paths: Iterable[Iterable[str]]) -> frozenset[str]:
    """Attributes that hold a row's tenant or its parent on the tenant path (``organization``,
    ``organization_id``, ``project``...): comparing one of them checks the row."""
    attrs: set[str] = set(tenant_fields)
    for paths in tenant_paths:
        for path in paths:
            head = path.split("__", 1)[0]
            attrs.update((head, f"{head}_id"))
    return frozenset(attrs)


# lookup transforms that do not pin a value: `organization__isnull=False` narrows to no tenant
WIDENING_LOOKUPS = frozenset(
    {
        "isnull", "gt", "gte", "lt", "lte", "range", "ne", "startswith", "istartswith", "endswith",
        "iendswith", "contains", "icontains", "regex", "iregex", "year", "month", "day", "week_day",
        "isempty", "overlap", "search", "trigram_similar",
    }
)  # fmt: skip


def lookup_key_scopes(key: str, paths: Iterable[str], properties: Iterable[str] = ()) -> bool:
    """Whether a lookup keyword (``organization_id``, ``invoice__organization__in``) pins a tenant path.

    ``organization__isnull=False`` or ``organization_id__gt=0`` name the path but pin no tenant, and nor does
    a plain property of the tenant (``project__is_private=True``: ``properties`` are those field names).
    """
    if key.rsplit("__", 1)[-1] in WIDENING_LOOKUPS:
        return False
    for path in paths:
        if key in (path, f"{path}_id"):
            return True
        for prefix in (f"{path}__", path[:-3] + "__" if path.endswith("_id") else ""):
            if prefix and key.startswith(prefix):
                return key[len(prefix) :].split("__", 1)[0] not in properties
    return False


# calls that hand back a copy of a value's fields (`data.model_dump()`, `request.POST.dict()`): what the copy holds,
# the value held
# attributes holding the row the server saved or fetched (``serializer.instance``, ``self.object``)
SERVER_ATTRS = frozenset({"instance", "object"})


def is_saved_key(base: str, key: object) -> bool:
    """``serializer.data["id"]``: the key of the row a serializer saved, read back from its output. The database
    assigned it; the client's other fields (``serializer.data["project"]``) are still what the client sent."""
    head, _, attr = base.rpartition(".")
    return key in ("id", "pk") and attr == "data" and "serializer" in head.rsplit(".", 1)[-1].lower()


# the view's position among a permission hook's parameters, ``(self, request, view)`` (``guards.permission_hooks``)
PERMISSION_VIEW_ARG = 2
FIELD_COPIES = frozenset({"dict", "copy", "deepcopy", "to_dict", "model_dump", "model_copy"})
# writes a query chain may end in besides the framework's ``queries.write_methods``
CHAIN_WRITES = frozenset({"delete", "adelete", "bulk_create", "abulk_create"})


def writes_chain(methods: Iterable[str], write_methods: frozenset[str]) -> bool:
    """Whether a call chain (its methods, in any order) writes: ``create``, ``get_or_create``, ``update``,
    ``delete``. A membership row it makes or changes proves nothing about who may read the tenant's rows:
    ``Membership.objects.create(user=request.user, organization=org)`` joins any org it is given."""
    return any(m in write_methods or m in CHAIN_WRITES for m in methods)


AGGREGATES = frozenset(
    {"exists", "count", "aggregate", "aexists", "acount", "aaggregate", "scalar_subquery"}
)  # a query that ends in one of these reads no row: a count, a yes or no

IDENTIFYING = frozenset(
    {"pk", "id", "slug", "uuid", "name", "domain", "subdomain", "code", "key", "host", "hostname", "handle"}
)


def is_key_lookup(key: str) -> bool:
    """Whether a lookup picks a row by its own key (``pk=``, ``id__exact=``)."""
    return key.removesuffix("__exact") in ("id", "pk")


def identifies_tenant(key: str) -> bool:
    """Whether a lookup on the tenant model picks one tenant (``pk=``, ``slug__iexact=``, ``stripe_customer_id=``)
    rather than filtering by a property (``is_private=``, ``created__gt=``)."""
    field, _, transform = key.partition("__")
    if transform and transform.rsplit("__", 1)[-1] not in ("exact", "iexact", "in"):
        return False
    return field in IDENTIFYING or field.endswith(("_id", "_slug", "_uuid", "_key", "_code"))


def joins_members(key: str, paths: Iterable[str], properties: Iterable[str] = ()) -> bool:
    """Whether a lookup keyword given the signed-in user (``organization__users=request.user``) joins a row's
    tenant, reached through one of ``paths``, to that user: a relation of the tenant the user is compared with
    (its members, its memberships, its owner; declared in the project or by an installed base, such as
    django-organizations' ``users``), so the query finds rows only in a tenant the user belongs to. A property
    (``properties``) or an identifier of the tenant is none (``organization__id=request.user.id`` compares two
    kinds of id)."""
    for path in paths:
        if key.startswith(f"{path}__"):
            field = key[len(path) + 2 :].split("__", 1)[0]
            return field not in properties and not identifies_tenant(field)
    return False


def matches_field(name: str, markers: Iterable[str]) -> bool:
    """Whether a field name matches one of a pack's field-name globs (case-insensitive)."""
    if isinstance(markers, frozenset):
        return _matches_field(name, markers)
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, m) for m in markers)


@functools.lru_cache(maxsize=MEMO_SIZE)
def _matches_field(name: str, markers: frozenset[str]) -> bool:
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, m) for m in markers)


def is_secret_field(name: str, markers: Iterable[str]) -> bool:
    """Whether a field name says it is a bearer secret (``token``, ``secret``, ``api_key``)."""
    return matches_field(name, markers)


__all__ = [
    "REQUEST",
    "SESSION",
    "SIGNED_IN",
    "entry_matches",
    "identifies_tenant",
    "is_error_response",
    "is_refusing_call",
    "is_secret_field",
    "is_signed_in_user",
    "is_trusted_expr",
    "is_userish",
    "lookup_key_scopes",
    "matches_any",
    "matches_field",
    "module_name",
    "request_source",
    "short",
    "tenant_attrs",
]
