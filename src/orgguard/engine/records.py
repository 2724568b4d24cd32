"""The records the index pass produces: per-file facts (scan) and the whole-project index (join).

Every record is a typed, frozen ``msgspec.Struct`` (array-like on the wire), so facts travel between
worker processes and runs through one schema per record type, with type checking on decode: a cached
entry of another shape is refused, never misread (engine/codec.py stamps every record with its version).

Facts are what one file tells on its own (no other file, no tenant paths): names, references written as
the file wrote them (resolved against the project in the join), and the *origins* of the values that
reach calls, returns and lookups, in terms of the function's own parameters, the request input it reads
and the calls it makes. The join resolves the references, solves the summaries to a fixpoint over the
call graph and records, for every function, which entry points reach it and with what.
"""

from __future__ import annotations

import itertools

import msgspec

# bump when a record changes shape (here, in engine/findings.py or engine/codec.py): cache entries and
# worker results of another version are dropped, never misread (engine/codec.py stamps every record)
SCHEMA_VERSION = 32


class Origin(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """Where a value came from, in its function's own terms.

    ``params``: the function's parameters it derives from; ``sources``: client input read in the function
    (``"request:request.GET['id']"``, ``"session:request.session['org']"``); ``calls``: project calls whose
    results it carries (their keys, resolved in the join); ``guards``: ids of the function's checks that
    ran on it on every path (the join decides whether they verify); ``trusted``: a verified tenant or the
    signed-in user, known as such in the file itself.
    """

    params: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    guards: tuple[int, ...] = ()
    trusted: bool = False

    @property
    def empty(self) -> bool:
        return not (self.params or self.sources or self.calls)


CLEAN_ORIGIN = Origin()
TRUSTED_ORIGIN = Origin(trusted=True)


def join_origins(origins: list[Origin] | tuple[Origin, ...]) -> Origin:
    """The origin of a value that is any of ``origins`` (a branch join, a union of operands)."""
    carrying = [o for o in origins if o.params or o.sources or o.calls]
    if not carrying:
        return TRUSTED_ORIGIN if origins and all(o.trusted for o in origins) else CLEAN_ORIGIN
    if len(carrying) == 1:  # the one origin as it is, when it is already what the union below makes of it
        one = carrying[0]
        if not one.trusted and all(_ordered(t) for t in (one.params, one.sources, one.calls, one.guards)):
            return one
    guards = set(carrying[0].guards)
    for o in carrying[1:]:
        guards &= set(o.guards)
    return Origin(
        params=tuple(sorted({p for o in carrying for p in o.params})),
        sources=tuple(sorted({s for o in carrying for s in o.sources})),
        calls=tuple(sorted({c for o in carrying for c in o.calls})),
        guards=tuple(sorted(guards)),
    )


def _ordered(items: tuple[str, ...] | tuple[int, ...]) -> bool:
    """Sorted without repeats (what ``tuple(sorted(set(items)))`` gives back unchanged)."""
    return len(items) < 2 or all(a < b for a, b in itertools.pairwise(items))  # type: ignore[operator]


class Ref(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """A reference to a project symbol as a file wrote it, resolved in the join.

    ``kind``: ``"g"`` — ``base`` is an absolute dotted name (a module symbol or an import, relative imports
    made absolute); ``"self"`` — ``base`` is the enclosing class (module-qualified), the reference starts at
    ``self``/``cls``; ``"inst"`` — an instance of the class ``base`` names (``Service()``, a parameter
    annotated ``repo: Repo``); ``"super"`` — ``super().m(...)`` in the class ``base``: ``m`` as the first base
    class in its order that defines it. ``attrs``: the attribute chain after the base; ``"()"`` calls the
    previous step (its return annotation gives the type).
    """

    kind: str
    base: str
    attrs: tuple[str, ...] = ()


class CallFacts(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """One call in a function that may reach project code.

    ``key`` is ``"<dotted text>#<n>"``: the call's dotted text and its occurrence among calls of the same
    text in the function, in source order; the checkers find the same call by the same key.
    ``mode``: ``"call"``, ``"dispatch"`` (through a table or registry: ``HANDLERS[kind](event)``),
    ``"enqueue"`` (``task.delay(...)``: the target runs as a job), ``"getattr"`` (``getattr(self,
    f"handle_{x}")(...)``: every method of the class whose name starts with ``prefix``), ``"signal"``
    (``sig.send(...)``: its receivers). ``args``: the origin of each argument by position (``"0"``) or
    keyword; ``fate``: what the caller does with the result (``"checked"`` against the tenant or
    narrowed by it, ``"returned"``, ``"consumed"``).
    """

    key: str
    line: int
    col: int
    ref: Ref | None = None
    mode: str = "call"
    prefix: str = ""
    args: tuple[tuple[str, Origin], ...] = ()
    receiver: Origin = CLEAN_ORIGIN
    fate: str = "consumed"
    fate_attrs: tuple[str, ...] = ()  # attributes the result is compared on (checked, if one holds the tenant)
    result_var: str = ""  # the name the result is assigned to (checked, if a verifying check takes it)
    # arguments that name a class, of a call that constructs one (``Repo(session, ShoppingItem)``): slot -> the
    # dotted name, head resolved through the imports (what ``self.model = model`` in its ``__init__`` holds)
    class_args: tuple[tuple[str, str], ...] = ()
    nones: tuple[str, ...] = ()  # the slots given the literal ``None`` (by position or keyword)


class Check(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """A place where the function may verify membership; the join decides whether it does.

    ``direct``: a verification the file shows by itself (a configured guard, a membership-model query
    with the user, an owner comparison with the signed-in user, an object check with the user);
    ``user_attrs``/``user_kwargs``: relations read on the user (``user.teams``) or keywords given the
    user (``members=user``), a verification when they are membership relations of the project; ``key``:
    a project call that verifies when its summary does, ``args``: the names passed in each argument
    slot (so the join knows which of them the callee verified); ``names``: every name it checks.
    """

    names: tuple[str, ...] = ()
    direct: bool = False
    user_attrs: tuple[str, ...] = ()
    user_kwargs: tuple[str, ...] = ()
    key: str = ""
    args: tuple[tuple[str, tuple[str, ...]], ...] = ()
    kwargs_read: tuple[str, ...] = ()  # URL kwargs it reads (``view.kwargs["project_pk"]``)
    top: bool = False  # on the function's main path (not inside a branch or a loop): it runs on every path
    user_self: bool = False  # `self` is the user in it: a check only in a method of the project's user model
    # a method called on a row a query fetched (``colleague = User.objects.get(pk=...)``, then
    # ``colleague.is_member_of(org)``): a user model's method there checks that user, not the requester
    on_row: bool = False
    # `principal.has_perm(perm, self)`: the method's own row checked against the user handed in (a check only in
    # a method of a model: on a view, `self.parent_model` is no row)
    row_self: bool = False


class Lookup(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """A query lookup whose value carries a parameter or client input: ``Invoice.objects.filter(
    organization_id=org_id)`` — the model as written, the lookup key, where the value came from."""

    model: str
    key: str
    origin: Origin
    line: int = 0
    aggregate: bool = False  # ends in exists()/count(), or its statement throws its row away: it resolves no row


class ParamSpec(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """A parameter as declared: its annotation and a FastAPI-style marker (``Depends(get_org)``)."""

    name: str
    annotation: str = ""  # dotted, head resolved through the imports
    marker: str = ""  # short name of the marker call (``Depends``, ``Query``), or a dependency alias
    provider: Ref | None = None  # ``Depends(<provider>)``
    star: str = ""  # "*" or "**"
    items: str = ""  # the element type of a collection annotation (``list[UpdateBook]``), dotted like annotation


class Decorator(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    text: str  # dotted as written (``app.route``)
    qualified: str  # head resolved through the imports (``flask.Blueprint.route`` stays ``bp.route``)
    ref: Ref | None = None
    call: bool = False
    first: str = ""  # first string argument (a route path, an event name)
    arg_refs: tuple[Ref, ...] = ()  # names given to it (``@receiver(invoice_paid)``)
    permissions: tuple[Ref, ...] = ()  # ``permission_classes=[IsMember]`` (Strawberry's field decorators)


class DefFacts(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """One module-level function or method (nested functions belong to their outer function)."""

    name: str
    qualname: str  # within the module: ``func`` or ``Class.method`` (``#2`` for a second definition)
    line: int
    klass: str = ""  # the enclosing class within the module ("" for a module function)
    params: tuple[ParamSpec, ...] = ()
    decorators: tuple[Decorator, ...] = ()
    is_async: bool = False
    calls: tuple[CallFacts, ...] = ()
    checks: tuple[Check, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    returns: Origin = CLEAN_ORIGIN
    generator: bool = False  # it yields (what it yields is not among ``returns``: read it as handing back its input)
    returns_call: tuple[str, ...] = ()  # keys of calls whose result it returns as is
    returns_other: bool = False  # some `return` hands back something else than a call's result (or None)
    called: tuple[str, ...] = ()  # every call's dotted text, head resolved through the imports
    user_attrs: tuple[str, ...] = ()
    user_kwargs: tuple[str, ...] = ()
    staff_gate: bool = False  # ``if not request.user.is_staff: raise ...``
    registers: tuple[str, ...] = ()  # containers it stores a function parameter into (a registering decorator)
    wraps: bool = False  # returns a function defined inside it (a decorator that keeps the handler)
    kwargs_read: tuple[str, ...] = ()  # URL kwargs it reads (``self.kwargs["pk"]``)
    inner_params: tuple[str, ...] = ()  # parameters of the functions defined in it (a decorator's wrapper)
    optional_params: tuple[str, ...] = ()  # parameters that default to ``None`` or are annotated as optional
    # the last names of its calls whose arguments ``calls`` does not record (``repo.find(doc_id)``, ``repo`` untyped)
    blind_calls: tuple[str, ...] = ()
    secret_gate: bool = False  # refuses unless a request header/parameter equals an operator's shared secret
    debug_gate: bool = False  # refuses, first thing, unless a development switch is on (``not settings.DEBUG``)
    abstract: bool = False  # its body only raises NotImplementedError (or is empty): subclasses implement it
    random_maker: bool = False  # a module function returning a fresh random value (``return shortuuid.uuid()``)
    # it refuses somewhere: a `raise`, or a query ending in a fetch that raises when no row matches (`.one()`)
    raises: bool = False
    return_type: Ref | None = None  # its return annotation, as an instance (``-> Repo``)
    # (row parameter, dict parameter): it sets every key of the dict on the row (``setattr(row, k, v)`` in a
    # loop over the dict's items): a caller handing it the client's body mass-assigns the row
    assigns: tuple[tuple[str, str], ...] = ()
    # parameters it returns narrowed to a tenant (``return q.filter(organization=org)``, a query handed to a
    # filter object's applier): a caller reassigning its query through it narrows that query
    narrows: tuple[str, ...] = ()
    # (parameter, lookup heads): the lookups its queries continued on a parameter narrow by (``base_queryset
    # .filter(page=page)``: ``page``; a known scoping method: ``*``), whatever it returns
    narrowed_in: tuple[tuple[str, tuple[str, ...]], ...] = ()
    passes: tuple[str, ...] = ()  # parameters it returns as they are, or continued (``return queryset``)
    # it hands its first parameter (a model or queryset) and its ``**`` parameter to a query shortcut
    # (``def get_object_or_error(qs, user, **kw): return get_object_or_404(qs, **kw)``): a shortcut itself
    shortcut: bool = False
    # parameters whose every field it writes onto a row (``row.update(**data)`` on a row it fetched,
    # ``qs.update(**data)``, ``data`` a parameter, its ``model_dump()``, or a local built from it)
    writes: tuple[str, ...] = ()
    self_binds: tuple[tuple[str, str], ...] = ()  # ``__init__``'s ``self.<attr> = <param>``: (attr, param)
    # ``self.<attr>(**data)``: (attr, param) of a row built from every field of a parameter (a write when
    # the constructions bind ``self.<attr>`` to models: a generic repository's ``create``)
    constructs: tuple[tuple[str, str], ...] = ()
    # (callee text, param, keywords) of ``Model(**data, organization=org)`` with ``data`` a parameter or built from
    # one (``dep.dict()``): a row of whatever class the text names (the join knows the models), built from every
    # field the parameter holds but the keywords it is given beside them
    builds_from: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    object_check: bool = False  # runs the view's object check on what it fetched (`self.check_permissions(r, a, obj)`)
    # where the sessions it returns or yields come from: ``with SessionLocal() as s: yield s`` gives
    # SessionLocal; ``org_session(SessionLocal, ctx)`` gives org_session (a Depends(get_db) provider)
    session_sources: tuple[Ref, ...] = ()
    # a permission hook's reads of its view's attributes (``view.project_id``): the URL kwargs the view's own
    # properties of those names read are what the hook verifies
    view_attrs: tuple[str, ...] = ()
    # every value it returns is a query (not a row it fetched) of this model, as written (``return SavedQuery.objects
    # .filter_for_user(request.user)``), and what that query filters on, read as a queryset hook's is
    returned_model: str = ""
    returned_query: HookFacts | None = None
    # a statement of its body (not a branch) fetches the view's object by its URL kwargs (``obj = self.get_object(
    # **kwargs)``): it answers 404 for a row the view's queryset does not hold
    fetches_object: bool = False


class HookFacts(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A queryset hook (``get_queryset``...) as far as one file tells."""

    name: str
    scopes: bool  # narrows through a trusted source or a known scoping method, whatever the tenant paths
    inherits: bool  # builds on the class queryset (super()/self.queryset)
    calls: tuple[str, ...]  # short names of the methods it calls (project scoping methods are known later)
    kwargs: tuple[str, ...]  # lookup keywords (tenant paths are known later)
    parent_kwargs: tuple[str, ...]  # keywords given a name it holds (``project=project``), not a raw URL id


class ClassFacts(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One class statement."""

    name: str
    qualname: str  # within the module (``Outer.Inner``)
    path: str
    line: int
    bases: tuple[str, ...]  # dotted as written
    base_refs: tuple[Ref | None, ...]
    relations: tuple[tuple[str, str], ...]  # (field, target class name or "table:<name>")
    columns: tuple[str, ...]
    methods: tuple[str, ...]
    table: str
    table_declared: bool
    abstract: bool
    related: tuple[tuple[str, str], ...]  # (target name, related_name)
    aliases: tuple[tuple[str, str], ...]
    hooks: tuple[HookFacts, ...]
    # manager/queryset classes: (method, lookup keywords of its calls) for methods taking an argument
    manager_methods: tuple[tuple[str, tuple[str, ...]], ...]
    narrows: bool  # a method reassigns self.queryset through a known scoping method
    narrow_calls: tuple[str, ...]  # ...or through these calls (project scoping methods are known later)
    narrow_kwargs: tuple[str, ...]  # ...or these lookup keywords (tenant paths are known later)
    attr_types: tuple[tuple[str, Ref], ...] = ()  # ``repo = Repo()``, ``repo: Repo``, ``self.repo = Repo(...)``
    permission_classes: tuple[Ref, ...] = ()  # ``permission_classes = [IsMember]``
    secret_fields: tuple[str, ...] = ()  # non-pk fields with a random default (``token = ...(default=uuid4)``)
    primary_keys: tuple[str, ...] = ()  # fields declared primary keys
    attr_refs: tuple[tuple[str, tuple[Ref, ...]], ...] = ()  # list-valued attributes (``actions = [a, b]``)
    decorators: tuple[str, ...] = ()  # class decorators, dotted and qualified (``method_decorator(X)``: X)
    dependencies: tuple[Ref, ...] = ()  # ``user = Depends(get_admin_user)``; ``super().__init__(dependencies=[...])``
    collections: tuple[str, ...] = ()  # relations holding many rows (``Mapped[list[X]]``, ``secondary=``)
    # (field, callable) of non-key fields whose default is a function the join resolves (``default=create_hash``)
    default_refs: tuple[tuple[str, Ref], ...] = ()
    # ``permission_classes`` entries composed with DRF's operators (``IsAuthenticated & (IsAdmin | IsMember)``), each
    # as its alternatives, each alternative the classes that must all pass on it (``~X`` requires nothing of them)
    permission_alternatives: tuple[tuple[tuple[Ref, ...], ...], ...] = ()


class ModuleVar(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """A module-level name bound to something the join follows: an instance, a dispatch table, a
    ``functools.partial``, a router with dependencies, a signal."""

    name: str
    type: Ref | None = None  # ``service = Service()``
    table: tuple[Ref, ...] = ()  # ``HANDLERS = {"a": on_a, ...}`` / ``[on_a, on_b]``
    alias: Ref | None = None  # ``handler = partial(on_event, strict=True)`` / ``f = g``
    dependencies: tuple[Ref, ...] = ()  # ``APIRouter(dependencies=[Depends(get_admin)])``
    signal: bool = False
    # ``IsProjectMember = IsAnnotator | IsApprover | IsAdmin``: a composed permission, as its alternatives
    permission: tuple[tuple[Ref, ...], ...] = ()


class Layout(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Where a module's top-level statements are, as blanking reads them (engine/blank.py), taken by the
    index scan from its own parse so that blanking needs none of its own."""

    # (first line, last line, the names it binds, the modules it names, what each bound name stands for) of every
    # module-level import (``from a.b import c as d``: ``d`` stands for ``a.b.c``; ``import a.b``: ``a`` for ``a``)
    imports: tuple[tuple[int, int, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = ()
    # (stub, name, first line with the decorators, last line) of every top-level def and class
    defs: tuple[tuple[str, str, int, int], ...] = ()
    reused: tuple[str, ...] = ()  # names more than one module-level def or class binds
    # (the class's first line, stub, name, first line with the decorators, last line, column) of every method
    # of a top-level class whose name no other definition of its class reuses
    methods: tuple[tuple[int, str, str, int, int, int], ...] = ()


FACTORY_MARKER = "()"
"""``ParamSpec.marker`` of a parameter whose default (or ``Annotated`` metadata) calls a project function: a
dependency when that function is a factory returning ``Depends(...)``."""


class FileFacts(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What one project file contributes to the index."""

    parsed: bool
    path: str
    module: str
    classes: tuple[ClassFacts, ...] = ()
    functions: tuple[DefFacts, ...] = ()
    imports: tuple[tuple[str, str], ...] = ()  # local name -> absolute dotted origin
    star_imports: tuple[str, ...] = ()
    variables: tuple[ModuleVar, ...] = ()
    dependencies: tuple[Ref, ...] = ()  # providers injected with Depends(...) anywhere in the file
    dependency_aliases: tuple[str, ...] = ()
    default_permissions: tuple[str, ...] = ()
    default_filters: tuple[str, ...] = ()  # REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"], short names
    mounts: tuple[tuple[Ref, Ref], ...] = ()  # (app, sub-app/router) of ``app.include_router(r)``/``mount``
    connects: tuple[tuple[Ref, Ref], ...] = ()  # (signal, receiver) of ``sig.connect(receiver)``
    # (model as written, admin class) of ``admin.site.register(Device, DeviceAdmin)`` / ``@admin.register(Device)``
    registrations: tuple[tuple[str, Ref], ...] = ()
    hooks: tuple[tuple[Ref, Ref], ...] = ()  # (app or blueprint, hook) of ``bp.before_request(hook)``
    scheduled: tuple[Ref, ...] = ()  # functions a scheduler table or call names (``{"func": f, ...}``): jobs
    # import paths of the jobs a periodic schedule runs with no arguments (``{"task": "app.tasks.purge", ...}``)
    periodic: tuple[str, ...] = ()
    url_views: tuple[Ref, ...] = ()  # what its URLconf routes to (``path("x/", views.detail)``)
    resolvers: tuple[Ref, ...] = ()  # functions handed as ``resolver=`` (``strawberry.field(resolver=get_webapp)``)
    # ``IssueViewSet.as_view({"get": "list", "post": "create"})``: (the view class, the actions it routes)
    view_actions: tuple[tuple[Ref, tuple[str, ...]], ...] = ()
    urlconf: bool = False  # it assigns ``urlpatterns``
    # dotted paths its module-level settings give as strings (``SAVE_USER = "users.functions.save_user"``):
    # functions the framework or the app loads by name and calls
    named_paths: tuple[Ref, ...] = ()
    # what ``install(...)`` (queries.session_installers) is called on, and ``X`` of ``X = install(...)``
    installs: tuple[Ref, ...] = ()
    # ``Role = Annotated[Role, RoleACL(...)]``: (alias, the function called in its metadata); an alias of a
    # dependency when that function is a factory returning ``Depends(...)`` (decided in the join)
    dependency_factories: tuple[tuple[str, Ref], ...] = ()
    # ``SuperuserRole = Annotated[PlatformRole, Depends(require_superuser)]``: (alias, its provider)
    alias_providers: tuple[tuple[str, Ref], ...] = ()
    # None: the file is not for blanking without a parse (see Layout); never packed (the runner leaves it out)
    layout: Layout | None = None


# ---------------------------------------------------------------------------------------------------
# the index


class ModelInfo(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An ORM model class found in the project."""

    name: str
    path: str
    bases: tuple[str, ...]
    relations: tuple[tuple[str, str], ...]  # (field, target class name or "table:<name>")
    columns: tuple[str, ...]  # every class-level field name
    table: str
    abstract: bool = False
    secret_fields: tuple[str, ...] = ()  # non-key fields with a random default (bearer secrets)
    primary_keys: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()  # class attributes holding a manager (``objects``, ``published``)
    scoped_managers: tuple[str, ...] = ()  # ...of them, the ones that scope to the active tenant at run time
    default_manager: str = ""  # the first manager declared (Django's ``_default_manager``, shortcuts use it)
    session_scoped: bool = False  # derives from a models.scoped_bases class: an installed session scopes it
    query_session: str = ""  # the session behind Flask-SQLAlchemy's ``Model.query`` (``app.db.session``)
    collections: tuple[str, ...] = ()  # relations holding many rows: never a step to a tenant through a parent


class ClassInfo(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Any class: its bases and the facts checkers ask about across files."""

    name: str
    path: str
    bases: tuple[str, ...]
    methods: tuple[str, ...]
    scoping_hooks: tuple[str, ...] = ()  # queryset hooks (get_queryset...) that narrow to a tenant
    inheriting_hooks: tuple[str, ...] = ()  # hooks that build on the class queryset (super()/self.queryset)
    # `org_model = Organization`, `def get_org_model(): return self.org_model`
    aliases: tuple[tuple[str, str], ...] = ()
    narrows_queryset: bool = False  # a method reassigns self.queryset through a scoping call (restrict, for_org)
    qualname: str = ""
    filtered: bool = False  # its filter backends narrow every list it serves to the user's tenants
    sets_filters: bool = False  # it declares its own filter backends (the project's defaults do not apply)
    staff: bool = False  # only staff reach it (a staff permission class or hook, a staff decorator)
    # what ``self.<attr>`` names in its methods when the class itself does not say: the models its
    # subclasses set (``model = Device``), its admin registrations bind, or the classes that run its
    # methods on their own instances (``BaseConfigAdmin.download_view(self, ...)``) set
    bound: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # an admin class that serves tenants' own staff: it, or a subclass that runs its methods, narrows the
    # admin's queryset to the user's tenants (a scoping mixin or get_queryset); its custom views must too
    tenant_admin: bool = False


class Step(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One hop of a path from an entry point to a function: a call site (or the entry itself)."""

    function: str  # qualname of the function the step is in
    path: str
    line: int
    col: int
    what: str  # "entry", "source", "call"
    text: str  # for messages and code flows


class Reach(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The entry points of one path class that reach a function (or pass client input into one of its
    parameters): how many, and the first few with the path each takes."""

    surface: str  # the entry points' path class (Surface value)
    command: bool  # every one of them is an operator command
    fate: str  # "consumed": the function's result is used unchecked; "checked": narrowed/checked by a caller
    count: int
    examples: tuple[tuple[str, str, tuple[Step, ...]], ...]  # (entry qualname, source text, path)


class FunctionInfo(msgspec.Struct, frozen=True, gc=False, array_like=True, omit_defaults=True):
    """What the checkers need to know about a project function, from the whole project."""

    qualname: str
    name: str
    path: str
    line: int
    klass: str = ""  # module-qualified class ("" for a module function)
    params: tuple[str, ...] = ()
    surface: str = "none"  # Surface value of the function itself
    guard: str = ""  # why every request to it is membership-checked ("" when it is not)
    command: bool = False
    route: str = ""
    routed: bool = False
    view: bool = False  # URL kwargs reach its parameters (a view handler)
    resolver: bool = False  # a GraphQL resolver (its arguments are the client's)
    dependency: bool = False  # injected with Depends(...) somewhere
    initial: tuple[
        tuple[str, str], ...
    ] = ()  # param -> "trusted" | "request:<source>" | "session:<source>" | "resolved"
    verifies: bool = False
    verified_params: tuple[str, ...] = ()
    verified_kwargs: tuple[str, ...] = ()  # URL kwargs it verifies (a permission class, a dispatch hook)
    trusted_kwargs: tuple[str, ...] = ()  # URL kwargs its view's guard verifies (``self.kwargs["project_pk"]``)
    resolves_unverified: tuple[str, ...] = ()  # params the tenant is looked up by with no membership check
    returns: str = ""  # "trusted" | "resolved" | "<kind>:<source>" (client input) | ""
    carries: bool = False  # what it returns derives from its parameters (or it yields): a caller's input passes on
    callees: tuple[tuple[str, str], ...] = ()  # call key -> callee qualname (first resolution)
    object_check: bool = False  # a view handler that checks the object it fetched (guards.object_checks on self)
    scoped_session: bool = False  # every session it returns or yields scopes queries at run time (get_db)
    helper: bool = False  # a view's own helper method (``_get_project(self, request)``): it runs for its handlers
    assigns: tuple[tuple[str, str], ...] = ()  # (row param, dict param): it sets every key of the dict on the row
    narrows: tuple[str, ...] = ()  # params it returns narrowed to a tenant (``return q.filter(org=org)``)
    narrowed_in: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (param, lookup heads its queries on it narrow by)
    passes: tuple[str, ...] = ()  # params it returns as they are or continued: a caller's query passes through
    writes: tuple[str, ...] = ()  # params whose every field it writes onto a row, itself or through callees
    # the fields each of those writes sets itself, whatever the parameter holds (``Meter(**body, organization=org)``)
    writes_fixed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # request-body params whose model declares the tenant field (``data: ShoppingListUpdate`` with ``group_id``)
    body_tenant: tuple[tuple[str, str, str], ...] = ()  # (param, body class, tenant field)
    # request-body params whose model declares a foreign id of a tenant-owned model (``shopping_list_id``)
    body_refs: tuple[tuple[str, str, str, str], ...] = ()  # (param, body class, field, target model)
    # params it looks one row up by, together with the tenant it holds (``Case.workspace_id == self.workspace_id``),
    # refusing when none matches: after ``self._get_case(case_id)`` the caller's ``case_id`` is the tenant's
    vouches: tuple[str, ...] = ()
    # (id param, tenant param): it looks one row up by the id in a query that pins the tenant to the other parameter,
    # refusing when none matches: ``get_run(org.id, run_id)`` with a verified org vouches for the caller's ``run_id``
    vouches_given: tuple[tuple[str, str], ...] = ()
    # every row it returns is one it builds (``audit = AlertAudit(...)``, then ``return audit``), or one a function
    # that builds one returns: its key (``.id``) is the database's, whatever the caller handed in
    builds_row: bool = False
    # it returns a query of this model that a trusted source or a scoping method narrows (the signed-in user's own
    # rows, the verified tenant's): what its callers fetch through it is a database row of those
    returns_scoped: str = ""
    fetches_object: bool = False  # fetches the view's object by its URL kwargs first thing, whatever the branch
    periodic: bool = False  # a periodic schedule runs it with no arguments (``command`` too: it works for the service)
    # a ``get_object`` that finds the object itself, calling neither the inherited one nor ``get_queryset()``
    # (``return self.project``, set by the mixin's ``dispatch`` from a scoped lookup)
    own_fetch: bool = False
    # its optional parameters that every call of its name in the project gives, never as ``None`` nor as the
    # caller's own optional parameter (``get_task(task_id, organization_id=org.id)``): a branch taken when one is
    # missing is reached by no caller
    given_params: tuple[str, ...] = ()


class ProjectIndex(msgspec.Struct, frozen=True, gc=False):
    """Whole-project facts, immutable once built."""

    root: str
    models: dict[str, ModelInfo] = {}
    tenant_paths: dict[str, tuple[str, ...]] = {}
    tenant_models: frozenset[str] = frozenset()
    tenant_properties: frozenset[str] = frozenset()  # plain fields of the tenant (`is_private`): they pin no tenant
    membership_models: frozenset[str] = frozenset()
    classes: dict[str, tuple[ClassInfo, ...]] = {}
    tables: dict[str, str] = {}  # table name -> model name
    membership_attrs: frozenset[str] = frozenset()  # user -> tenant relations (user.organizations)
    dependencies: frozenset[str] = frozenset()  # short names of functions injected with Depends(...)
    dependency_aliases: frozenset[str] = frozenset()  # `ActiveOrg = Annotated[..., Depends(...)]`
    default_permissions: tuple[str, ...] = ()  # REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"], short names
    default_filtered: bool = False  # REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"] narrow every list to the tenant
    scoping_methods: frozenset[str] = frozenset()  # custom manager/queryset methods that filter by tenant
    shortcuts: frozenset[str] = frozenset()  # qualnames of project functions that wrap a query shortcut
    view_mixins: frozenset[str] = frozenset()  # project classes mixed into views (their methods serve requests)
    # project classes built on the framework's view mixins alone (SingleObjectMixin) that no view derives from: no
    # request is ever dispatched to them (an e-mail class that renders one object)
    unroutable: frozenset[str] = frozenset()
    functions: dict[str, FunctionInfo] = {}  # by qualname
    reach: dict[str, tuple[Reach, ...]] = {}  # qualname -> entry points that reach the function
    param_reach: dict[str, tuple[tuple[str, tuple[Reach, ...]], ...]] = {}  # qualname -> param -> client input
    modules: dict[str, str] = {}  # relpath -> module name
    # sessions, session factories and Flask-SQLAlchemy ``db.session`` objects some module install()s, by
    # qualified name as every importer writes it (``app.db.SessionLocal``, ``app.extensions.db.session``)
    installed_sessions: frozenset[str] = frozenset()
    # tenant-owned models whose short name another model class of the project also has (``gallery.Image`` and
    # ``nutrition.Image``): name -> (module of each definition, whether that definition is tenant-owned)
    homonyms: dict[str, tuple[tuple[str, bool], ...]] = {}

    def class_alias(self, klass: str, name: str) -> str | None:
        """What ``self.<name>`` (or ``self.<name>()`` with name ending in ``()``) names in a class."""
        for _ in range(4):
            for info in self.ancestors(klass):
                for alias, target in info.aliases:
                    if alias == name:
                        if name.endswith("()"):
                            name = target  # a method returning self.<attr>: follow the attribute
                            break
                        return target
                else:
                    continue
                break
            else:
                return None
        return None

    def tenant_admin(self, klass: str) -> bool:
        """Whether ``klass`` is an admin class that serves tenants' own staff (see :attr:`ClassInfo.tenant_admin`)."""
        return any(info.tenant_admin for info in self.classes.get(klass, ()))

    def tenant_bodies(self) -> frozenset[str]:
        """Request-body models that declare the tenant field, as handlers that hand them on take them."""
        return frozenset(
            body
            for info in self.functions.values()
            for body in (*(b for _p, b, _f in info.body_tenant), *(b for _p, b, _f, _t in info.body_refs))
        )

    def bound_classes(self) -> frozenset[str]:
        """Classes whose methods query a tenant-owned model through ``self.<attr>`` set elsewhere (their
        name is what a file or statement holding such a query says). A class without methods holds no such
        query: a serializer's ``class Meta: model = Invoice`` is bound, and its name is in every serializer."""
        return frozenset(
            name
            for name, infos in self.classes.items()
            if any(
                info.methods and self.is_tenant_owned(m)
                for info in infos
                for _attr, models in info.bound
                for m in models
            )
        )

    def bound_models(self, klass: str, name: str) -> tuple[str, ...]:
        """The models ``self.<name>`` may be in the methods of ``klass`` (see :attr:`ClassInfo.bound`)."""
        out: dict[str, None] = {}
        for info in self.classes.get(klass, ()):
            for attr, models in info.bound:
                if attr == name:
                    out.update(dict.fromkeys(models))
        return tuple(out)

    def function(self, qualname: str) -> FunctionInfo | None:
        return self.functions.get(qualname)

    def callee(self, caller: str, key: str) -> FunctionInfo | None:
        """The project function a call (by its key) in ``caller`` resolves to, if any."""
        info = self.functions.get(caller)
        if info is None:
            return None
        for k, target in info.callees:
            if k == key:
                return self.functions.get(target)
        return None

    def reaches(self, qualname: str) -> tuple[Reach, ...]:
        return self.reach.get(qualname, ())

    def reaches_param(self, qualname: str, param: str) -> tuple[Reach, ...]:
        for name, reach in self.param_reach.get(qualname, ()):
            if name == param:
                return reach
        return ()

    def is_tenant_owned(self, model: str) -> bool:
        return model in self.tenant_paths

    def foreign_homonym(self, model: str, origin: str) -> bool:
        """Whether ``origin`` (the dotted module a file takes the name ``model`` from) holds a same-named model
        that is not tenant-owned, and no tenant-owned one: ``from wger.nutrition.models import Image`` is the
        ingredient catalog's ``Image``, not the user's gallery ``Image``."""
        homes = self.homonyms.get(model)
        if not homes or not origin:
            return False
        under = [owned for module, owned in homes if module == origin or module.startswith(origin + ".")]
        return bool(under) and not any(under)

    def primary_path(self, model: str) -> str:
        paths = self.tenant_paths.get(model, ())
        return paths[0] if paths else ""

    def ancestors(self, name: str, _seen: frozenset[str] = frozenset()) -> list[ClassInfo]:
        """Every project class named ``name`` and, transitively, its project base classes."""
        out: list[ClassInfo] = []
        for info in self.classes.get(name, ()):
            out.append(info)
            for base in info.bases:
                short = base.rsplit(".", 1)[-1]
                if short not in _seen and short != name:
                    out.extend(self.ancestors(short, _seen | {name}))
        return out

    def base_names(self, name: str) -> set[str]:
        """Short names of all bases of ``name`` reachable through project classes (external ones too)."""
        out: set[str] = set()
        for info in self.ancestors(name):
            out.update(b.rsplit(".", 1)[-1] for b in info.bases)
        return out
