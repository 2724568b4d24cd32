"""orgguard.runtime.fastapi with FastAPI's real TestClient and starlette sessions."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.middleware.sessions import SessionMiddleware

from orgguard.runtime import Actor, NoActiveOrg, OrgContext, current_org
from orgguard.runtime.fastapi import (
    FORBIDDEN_DETAIL,
    ActiveOrg,
    configure,
    require_active_org,
    switch_org,
)

USERS = {1: {"id": 1}, 2: {"id": 2}}


def create_app(members: dict[tuple[int, int], str]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="test")
    calls: list[tuple[int, object]] = []

    async def membership(user, org_id):
        calls.append((user["id"], org_id))
        await asyncio.sleep(0)  # an async membership lookup, as with an async DB driver
        try:
            return members.get((user["id"], int(org_id)))
        except (TypeError, ValueError):
            return None

    def user_loader(request: Request):
        return USERS.get(request.session.get("uid"))

    configure(app, membership=membership, user_loader=user_loader)
    app.state.calls = calls

    @app.post("/login/{uid}")
    async def login(uid: int, request: Request):
        request.session["uid"] = uid
        return {"ok": True}

    @app.post("/switch/{org_id}")
    async def switch(org_id: str, request: Request):
        ctx = await switch_org(request, int(org_id) if org_id.isdigit() else org_id)
        return {"org": ctx.org_id}

    @app.get("/me")
    async def me(org: ActiveOrg, request: Request):
        assert current_org() is org  # bound for the rest of the request
        assert request.state.org_context is org
        return {"org": org.org_id, "role": org.role, "actor": str(org.actor)}

    @app.get("/me-sync")
    def me_sync(org: ActiveOrg):
        return {"org": current_org().org_id, "same": current_org() is org}

    @app.get("/org-only")
    async def org_only(org: ActiveOrg):
        return {"org": org.org_id, "role": org.role}

    @app.get("/bound")
    async def bound():
        try:
            return {"bound": current_org().org_id}
        except NoActiveOrg:
            return {"bound": None}

    return app


MEMBERS = {(1, 10): "owner", (1, 11): "member", (2, 12): "member"}


@pytest.fixture
def client():
    with TestClient(create_app(dict(MEMBERS))) as c:
        yield c


def test_active_org_dependency(client):
    assert client.get("/me").status_code == 401  # nobody signed in
    client.post("/login/1")
    response = client.get("/me")
    assert response.status_code == 403 and response.json() == {"detail": FORBIDDEN_DETAIL}
    assert client.post("/switch/10").json() == {"org": 10}
    assert client.get("/me").json() == {"org": 10, "role": "owner", "actor": "user:1"}
    assert client.get("/me-sync").json() == {"org": 10, "same": True}
    assert client.post("/switch/11").json() == {"org": 11}
    assert client.get("/me").json()["role"] == "member"


def test_same_403_for_non_member_and_nonexistent_org(client):
    client.post("/login/1")
    client.post("/switch/10")
    responses = [client.post("/switch/12"), client.post("/switch/999"), client.post("/switch/nope")]
    for response in responses:
        assert response.status_code == 403
        assert response.content == responses[0].content
        assert response.headers["content-type"] == responses[0].headers["content-type"]
    assert client.get("/me").json()["org"] == 10  # the session was not changed


def test_membership_rechecked_every_request():
    members = dict(MEMBERS)
    app = create_app(members)
    with TestClient(app) as client:
        client.post("/login/1")
        client.post("/switch/11")
        assert client.get("/me").status_code == 200
        del members[(1, 11)]
        assert client.get("/me").status_code == 403
    assert app.state.calls.count((1, 11)) == 3  # switch + two requests


def test_no_binding_leaks_into_the_next_request(client):
    client.post("/login/1")
    client.post("/switch/10")
    assert client.get("/me").status_code == 200
    assert client.get("/bound").json() == {"bound": None}


def test_unconfigured_app_fails_loudly():
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="test")

    @app.get("/me")
    async def me(org: ActiveOrg):
        return {}

    with TestClient(app, raise_server_exceptions=True) as client, pytest.raises(RuntimeError, match="configure"):
        client.get("/me")


def test_dependency_override_for_view_tests():
    app = create_app({})
    fake = OrgContext(5, Actor("user", 9), "owner", "test")
    app.dependency_overrides[require_active_org] = lambda: fake
    with TestClient(app) as client:
        assert client.get("/org-only").json() == {"org": 5, "role": "owner"}
