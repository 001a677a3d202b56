"""The demo app: `python -m rush examples.app:app` (or `python examples/app.py`)."""

from __future__ import annotations

from pathlib import Path

from rush import Rush

HERE = Path(__file__).resolve().parent

app = Rush()
app.redirect("/easter", "/egg")

INDEX = (HERE / "public" / "index.html").read_text()


@app.get("/")
def index(request):
    return INDEX


@app.get("/hello")
def hello(request):
    return f"hello, {request.args.get('name', 'world')}!"


@app.route("/users/<int:user_id>", methods=["GET", "DELETE"])
def user(request, user_id):
    if request.method == "DELETE":
        return None
    return {"id": user_id, "name": f"user{user_id}"}


@app.post("/echo")
def echo(request):
    return (
        request.body,
        200,
        {"Content-Type": request.headers.get("content-type") or "application/octet-stream"},
    )


@app.get("/egg")
def egg(request):
    return "You found the egg.\n"


@app.errorhandler(404)
def not_found(request, error):
    return "nothing here\n", 404


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000, workers=None)
