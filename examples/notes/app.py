"""Notes: a small multi-page Rush app, for Flask users finding their way around.

    python3 -m rush examples.notes.app:app --workers 2        # http://127.0.0.1:8000

Three blueprints: `auth` (log in and out with a session; API tokens), `notes` (pages: list,
create with validation errors, view, delete, attach a file and download it) and `api` (JSON,
with a session or a bearer token). Templates extend `templates/layout.html`; the stylesheet is
served from `static/`. The notes live in SQLite (examples/notes/store.py), which every worker
opens for itself, so whichever worker answers sees the same notes.

Settings (`RUSH_<NAME>` environment variables override them): `SECRET_KEY` (signs the session
cookie and the API tokens), `NOTES_DB` (the SQLite file), `NOTES_UPLOADS` (attachments).
Demo users: alice / wonderland and bob / builder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from rush import Blueprint, Rush, abort, redirect

from .store import NoteStore, validate

# DEVELOPMENT ONLY: anyone who reads this file can sign sessions with this key. In production
# set RUSH_SECRET_KEY to a long random value (python3 -c "import secrets; print(secrets.token_hex())").
DEV_SECRET_KEY = "dev-only-insecure-notes-key"

app = Rush(
    __name__,
    static_folder="static",
    secret_key=os.environ.get("RUSH_SECRET_KEY") or DEV_SECRET_KEY,
)
app.config.from_mapping(
    NOTES_DB=os.path.join(tempfile.gettempdir(), "rush-notes.db"),
    NOTES_UPLOADS=os.path.join(tempfile.gettempdir(), "rush-notes-uploads"),
)
app.config.from_prefixed_env()  # RUSH_NOTES_DB=/srv/notes.db and the like
if app.config["SECRET_KEY"] == DEV_SECRET_KEY:
    app.logger.warning("using the development secret key: set RUSH_SECRET_KEY in production")

MAX_UPLOAD = 5 * 1024 * 1024  # a larger attachment is refused with 413 before it is read
TOKEN_MAX_AGE = 24 * 3600  # seconds an API token stays valid

# This worker's connection to the notes file: opened after the fork, in every worker.
store = NoteStore()


@app.on_startup
def open_store() -> None:
    store.open(app.config["NOTES_DB"])


@app.on_shutdown
def close_store() -> None:
    store.close()


@app.get("/")
def home(request):
    return redirect(app.url_for("notes.index"))


# -- users -----------------------------------------------------------------------------------

PASSWORD_ITERATIONS = 200_000
# A tiny user table: name -> (salt, PBKDF2-SHA256 of the password). Never store passwords.
USERS = {
    "alice": (
        bytes.fromhex("a4e1513d147d6dc10fe2e5bde0b466b5"),
        bytes.fromhex("0ff4d29e20bb64b8ef715a30430255d8085dd633e81ea5c2e3c966e6f71673db"),
    ),
    "bob": (
        bytes.fromhex("0fd3ce853bc4d5c897acbbe18c711ba7"),
        bytes.fromhex("c60bdc20e2b7d8159c4f4bfba76dc4bee95d2189d28a6bd7c88090a238962903"),
    ),
}
_NOBODY = (bytes(16), bytes(32))  # an unknown name costs the same hashing: no timing hint


def check_password(name: str, password: str) -> bool:
    salt, expected = USERS.get(name, _NOBODY)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PASSWORD_ITERATIONS)
    return hmac.compare_digest(digest, expected) and name in USERS


def token_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="notes-api-token")


def local_target(target: str | None) -> str | None:
    """`target` if it is a path on this site: never send a user elsewhere after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


# -- auth: log in, log out, API tokens ----------------------------------------------------

auth = Blueprint("auth", __name__, url_prefix="/auth")


@auth.route("/login", methods=["GET", "POST"])
def login(request):
    target = local_target(request.values.get("next"))
    if request.method == "GET":
        return app.render_template("auth/login.html", request=request, next=target)
    name = request.form.get("username", "")
    if not check_password(name, request.form.get("password", "")):
        request.flash("Wrong user name or password.", "error")
        params = {"next": target} if target else {}
        return redirect(app.url_for("auth.login", **params))
    request.session.clear()  # a new session at login: nothing carried over from before
    request.session["user"] = name
    request.flash(f"Welcome, {name}!")
    return redirect(target or app.url_for("notes.index"))


@auth.post("/logout")
def logout(request):
    request.session.clear()
    request.flash("You are logged out.")
    return redirect(app.url_for("auth.login"))


@auth.post("/token")
def token(request):
    """A bearer token for the API: POST {"username": ..., "password": ...}."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"error": 'send JSON: {"username": ..., "password": ...}'}, 400
    name, password = data.get("username"), data.get("password")
    if not (isinstance(name, str) and isinstance(password, str) and check_password(name, password)):
        return {"error": "wrong user name or password"}, 401
    return {"token": token_signer().dumps({"user": name}), "expires_in": TOKEN_MAX_AGE}


# -- notes: the pages ----------------------------------------------------------------------

notes = Blueprint("notes", __name__, url_prefix="/notes")


@notes.before_request
def require_login(request):
    user = request.session.get("user")
    if user is None:
        request.flash("Please log in first.", "error")
        return redirect(app.url_for("auth.login", next=request.path))
    request.context["user"] = user  # Flask's g.user


def find_note(request, note_id: int) -> dict[str, Any]:
    note = store.get(request.context["user"], note_id)
    if note is None:
        abort(404)  # another user's note is as absent as a deleted one
    return note


def uploads_of(note_id: int) -> str:
    return os.path.join(app.config["NOTES_UPLOADS"], str(note_id))


@notes.get("/")
def index(request):
    mine = store.list(request.context["user"])
    return app.render_template("notes/index.html", request=request, notes=mine)


@notes.route("/new", methods=["GET", "POST"])
def new(request):
    if request.method == "GET":
        return app.render_template("notes/new.html", request=request, form={}, errors={})
    fields, errors = validate(request.form.get("title"), request.form.get("body"))
    if errors:  # the form again, with what was typed and what is wrong with it
        page = app.render_template("notes/new.html", request=request, form=fields, errors=errors)
        page.status_code = 400
        return page
    note_id = store.add(request.context["user"], fields["title"], fields["body"])
    request.flash(f"Note “{fields['title']}” saved.")
    return redirect(app.url_for("notes.view", note_id=note_id))


@notes.get("/<int:note_id>")
def view(request, note_id):
    note = find_note(request, note_id)
    return app.render_template("notes/view.html", request=request, note=note)


@notes.post("/<int:note_id>/delete")
def delete(request, note_id):
    note = find_note(request, note_id)
    store.delete(request.context["user"], note_id)
    shutil.rmtree(uploads_of(note_id), ignore_errors=True)
    request.flash(f"Note “{note['title']}” deleted.")
    return redirect(app.url_for("notes.index"))


@notes.post("/<int:note_id>/attachment", max_body=MAX_UPLOAD)
def attach(request, note_id):
    note = find_note(request, note_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        request.flash("Choose a file to attach.", "error")
        return redirect(app.url_for("notes.view", note_id=note_id))
    name = upload.safe_filename  # "../../etc/passwd" -> "etc_passwd": safe to join to a folder
    if not name:
        request.flash("That file name cannot be used.", "error")
        return redirect(app.url_for("notes.view", note_id=note_id))
    folder = uploads_of(note_id)
    os.makedirs(folder, exist_ok=True)
    upload.save(os.path.join(folder, name))
    if note["attachment"] and note["attachment"] != name:
        try:
            os.remove(os.path.join(folder, note["attachment"]))
        except FileNotFoundError:
            pass
    store.attach(request.context["user"], note_id, name)
    request.flash(f"Attached {name} ({upload.size} bytes).")
    return redirect(app.url_for("notes.view", note_id=note_id))


@notes.get("/<int:note_id>/attachment")
def download(request, note_id):
    note = find_note(request, note_id)
    if not note["attachment"]:
        abort(404)
    return app.send_from_directory(uploads_of(note_id), note["attachment"], as_attachment=True)


# -- api: JSON, with a session or a bearer token --------------------------------------------

api = Blueprint("api", __name__, url_prefix="/api")


@api.before_request
def require_credentials(request):
    credentials = request.authorization
    user = None
    if credentials is not None and credentials.type == "bearer":
        try:
            user = token_signer().loads(credentials.token, max_age=TOKEN_MAX_AGE)["user"]
        except (BadSignature, KeyError, TypeError):
            user = None
    elif credentials is None:
        # The session cookie works too. A cross-site form cannot send JSON (get_json answers
        # anything else with 415), and the cookie is SameSite=Lax.
        user = request.session.get("user")
    if user is None:
        return (
            {"error": "log in, or send Authorization: Bearer <token>"},
            401,
            {"WWW-Authenticate": 'Bearer realm="notes"'},
        )
    request.context["user"] = user


def note_json(note: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": note["id"],
        "title": note["title"],
        "body": note["body"],
        "attachment": note["attachment"],
        "created": note["created"],
        "url": app.url_for("api.get_note", note_id=note["id"]),
    }


@api.errorhandler(400)
@api.errorhandler(404)
@api.errorhandler(415)
def api_error(request, error):
    return {"error": str(error)}


@api.get("/notes")
def list_notes(request):
    return {"notes": [note_json(note) for note in store.list(request.context["user"])]}


@api.post("/notes")
def create_note(request):
    data = request.get_json()  # 415 unless the body is JSON, 400 if malformed
    if not isinstance(data, dict):
        abort(400, "send a JSON object")
    fields, errors = validate(data.get("title"), data.get("body", ""))
    if errors:
        return {"errors": errors}, 400
    note = store.get(request.context["user"], store.add(request.context["user"], **fields))
    assert note is not None
    return note_json(note), 201, {"Location": note_json(note)["url"]}


@api.get("/notes/<int:note_id>")
def get_note(request, note_id):
    note = store.get(request.context["user"], note_id)
    if note is None:
        abort(404, "no such note")
    return note_json(note)


app.register_blueprint(auth)
app.register_blueprint(notes)
app.register_blueprint(api)
