"""orgguard.runtime.flask with Flask's real test client and Flask-SQLAlchemy (SQLite in memory)."""

from __future__ import annotations

import pytest
from flask import Flask, g, jsonify, session
from flask_sqlalchemy import SQLAlchemy
from rt_support import make_ctx
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orgguard.runtime import NoActiveOrg, NotAMember, UnscopedQuery, bind
from orgguard.runtime.flask import FORBIDDEN_BODY, OrgGuard, current_org, org_required
from orgguard.runtime.sqlalchemy import OrgScoped, install


class Base(DeclarativeBase):
    pass


class FlaskOrg(Base):
    __tablename__ = "flask_orgs"
    id: Mapped[int] = mapped_column(primary_key=True)


class FlaskMember(Base):
    __tablename__ = "flask_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    org_id: Mapped[int] = mapped_column(ForeignKey("flask_orgs.id"))
    role: Mapped[str] = mapped_column(String(20), default="member")


class FlaskNote(OrgScoped, Base):
    __tablename__ = "flask_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("flask_orgs.id"))
    text: Mapped[str] = mapped_column(String(50))


USERS = {1: {"id": 1, "name": "alice"}, 2: {"id": 2, "name": "bob"}}


def create_app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", SQLALCHEMY_DATABASE_URI="sqlite://", TESTING=True)
    db = SQLAlchemy(app, model_class=Base)
    install(db.session)

    def membership(user, org_id):
        try:
            org_pk = int(org_id)
        except (TypeError, ValueError):
            return None
        stmt = select(FlaskMember.role).where(FlaskMember.user_id == user["id"], FlaskMember.org_id == org_pk)
        return db.session.scalar(stmt)

    @app.before_request
    def load_user():
        g.user = USERS.get(session.get("uid"))

    guard = OrgGuard(app, membership=membership)  # registered after load_user: g.user is set

    @app.post("/login/<int:uid>")
    def login(uid):
        session["uid"] = uid
        return "ok"

    @app.post("/switch/<org_id>")
    def switch(org_id):
        ctx = guard.switch_org(int(org_id) if org_id.isdigit() else org_id)
        return jsonify(org=ctx.org_id)

    @app.get("/notes")
    @org_required
    def notes():
        rows = db.session.scalars(select(FlaskNote).order_by(FlaskNote.id)).all()
        return jsonify(org=current_org.org_id, role=current_org.role, notes=[n.text for n in rows])

    @app.get("/notes-async")
    @org_required
    async def notes_async():
        return jsonify(org=current_org.org_id)

    @app.get("/unguarded")
    def unguarded():
        return jsonify(count=len(db.session.scalars(select(FlaskNote)).all()))

    @app.get("/bound")
    def bound():
        return jsonify(bound=g.org_context is not None)

    @app.get("/raises-not-a-member")
    def raises():
        raise NotAMember("nope")

    with app.app_context():
        Base.metadata.create_all(db.engine)
        db.session.add_all([FlaskOrg(id=1), FlaskOrg(id=2), FlaskOrg(id=3)])
        db.session.add_all(
            [
                FlaskMember(user_id=1, org_id=1, role="owner"),
                FlaskMember(user_id=1, org_id=2),
                FlaskMember(user_id=2, org_id=3),
            ]
        )
        db.session.commit()
        for org in (1, 2, 3):
            with bind(make_ctx(org)):
                db.session.add_all([FlaskNote(text=f"{org}-a"), FlaskNote(text=f"{org}-b")])
                db.session.commit()
    return app, db


@pytest.fixture
def app_db():
    return create_app()


@pytest.fixture
def client(app_db):
    return app_db[0].test_client()


def test_active_org_is_resolved_verified_and_bound(client):
    client.post("/login/1")
    assert client.get("/notes").status_code == 403  # no active org yet
    assert client.post("/switch/1").get_json() == {"org": 1}
    assert client.get("/notes").get_json() == {"org": 1, "role": "owner", "notes": ["1-a", "1-b"]}
    assert client.post("/switch/2").get_json() == {"org": 2}
    assert client.get("/notes").get_json()["notes"] == ["2-a", "2-b"]
    assert client.get("/notes-async").get_json() == {"org": 2}


def test_same_403_for_non_member_and_nonexistent_org(client):
    client.post("/login/1")
    client.post("/switch/1")
    responses = [client.post("/switch/3"), client.post("/switch/999"), client.post("/switch/abc")]
    for response in responses:
        assert response.status_code == 403
        assert response.get_data(as_text=True) == FORBIDDEN_BODY
        assert response.mimetype == responses[0].mimetype
    assert client.get("/notes").get_json()["org"] == 1  # failed switches left the session alone
    assert client.get("/raises-not-a-member").get_data(as_text=True) == FORBIDDEN_BODY


def test_revoked_membership_applies_on_the_next_request(app_db):
    app, db = app_db
    client = app.test_client()
    client.post("/login/1")
    client.post("/switch/2")
    assert client.get("/notes").status_code == 200
    with app.app_context():
        db.session.execute(FlaskMember.__table__.delete().where(FlaskMember.org_id == 2))
        db.session.commit()
    assert client.get("/notes").status_code == 403


def test_tampered_session_org_is_refused(client):
    client.post("/login/2")
    with client.session_transaction() as sess:
        sess["orgguard.active_org_id"] = 1  # alice's org in bob's session
    assert client.get("/notes").status_code == 403


def test_anonymous_and_unguarded(client):
    assert client.get("/notes").status_code == 403
    with pytest.raises(UnscopedQuery):  # TESTING=True propagates exceptions
        client.get("/unguarded")


def test_no_binding_leaks_between_requests(client):
    client.post("/login/1")
    client.post("/switch/1")
    assert client.get("/bound").get_json() == {"bound": True}
    other = client.application.test_client()
    assert other.get("/bound").get_json() == {"bound": False}
    with pytest.raises(NoActiveOrg):
        _ = current_org.org_id  # outside any request: nothing bound


def test_membership_is_required():
    with pytest.raises(TypeError):
        OrgGuard(Flask(__name__), membership=None)
