"""Class-based views: `View.as_view` and `MethodView`, registered like any handler."""

from __future__ import annotations

import pytest

from rush import Rush
from rush.exceptions import RouteError
from rush.views import MethodView, View


class ItemAPI(MethodView):
    def __init__(self, store):
        self.store = store

    def get(self, request, item_id):
        return {"id": item_id, "value": self.store.get(item_id)}

    def put(self, request, item_id):
        self.store[item_id] = request.get_json()["value"]
        return {"id": item_id, "value": self.store[item_id]}

    def delete(self, request, item_id):
        self.store.pop(item_id, None)
        return None


class ListAPI(MethodView):
    def get(self, request):
        return {"items": request.args.getlist("i")}

    def post(self, request):
        return {"created": request.get_json()}, 201


def make_app() -> tuple[Rush, dict]:
    app = Rush()
    store: dict[int, str] = {}
    app.add_route("/items/<int:item_id>", ItemAPI.as_view("item", store))
    app.add_route("/items", ListAPI.as_view("items"))
    return app, store


def test_methods_are_inferred_from_the_class():
    assert ItemAPI.methods == ["DELETE", "GET", "PUT"]
    assert ListAPI.methods == ["GET", "POST"]
    app, _ = make_app()
    routes = {route.pattern: route.methods for route in app.router.dynamic}
    assert routes["/items/<int:item_id>"] == {"GET", "PUT", "DELETE"}


def test_each_method_answers_its_requests():
    app, store = make_app()
    with app.test_client() as client:
        assert client.put("/items/3", json={"value": "x"}).json == {"id": 3, "value": "x"}
        assert store == {3: "x"}
        assert client.get("/items/3").json == {"id": 3, "value": "x"}
        assert client.delete("/items/3").status_code == 204
        assert client.get("/items?i=a&i=b").json == {"items": ["a", "b"]}
        response = client.post("/items", json={"n": 1})
        assert (response.status_code, response.json) == (201, {"created": {"n": 1}})


def test_head_options_and_405_as_for_any_route():
    app, _ = make_app()
    client = app.test_client()
    assert client.head("/items/1").status_code == 200
    assert client.options("/items").headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    response = client.patch("/items/1")
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PUT"


def test_explicit_methods_win():
    app = Rush()
    app.add_route("/only-get", ListAPI.as_view("only"), ["GET"])
    client = app.test_client()
    assert client.get("/only-get").status_code == 200
    assert client.post("/only-get", json={}).status_code == 405


def test_methods_are_inherited_and_extended():
    class Base(MethodView):
        def get(self, request):
            return "base"

    class Child(Base):
        def post(self, request):
            return "child"

    class Fixed(Base):
        methods = ["GET"]

        def delete(self, request):
            return "not routed"

    assert Child.methods == ["GET", "POST"]
    assert Fixed.methods == ["GET"]


def test_a_plain_view_and_its_decorators():
    calls = []

    def logged(view):
        def wrapper(request, **params):
            calls.append(request.path)
            return view(request, **params)

        return wrapper

    class Hello(View):
        methods = ["GET", "POST"]
        decorators = [logged]

        def __init__(self, greeting):
            self.greeting = greeting

        def dispatch_request(self, request, name):
            return f"{self.greeting}, {name} ({request.method})"

    app = Rush()
    view = Hello.as_view("hello", "hi")
    assert view.__name__ == "hello" and view.view_class is Hello
    app.add_route("/hello/<name>", view)
    client = app.test_client()
    assert client.get("/hello/bob").text == "hi, bob (GET)"
    assert client.post("/hello/ann").text == "hi, ann (POST)"
    assert calls == ["/hello/bob", "/hello/ann"]


def test_init_every_request():
    made = []

    class Counter(View):
        init_every_request = False

        def __init__(self):
            made.append(self)

        def dispatch_request(self, request):
            return str(len(made))

    app = Rush()
    app.add_route("/", Counter.as_view("counter"))
    client = app.test_client()
    assert [client.get("/").text for _ in range(3)] == ["1", "1", "1"]


def test_a_new_instance_per_request_by_default():
    seen = []

    class Fresh(MethodView):
        def get(self, request):
            seen.append(id(self))
            self.mine = True  # per-request state is safe
            return "ok"

    app = Rush()
    app.add_route("/", Fresh.as_view("fresh"))
    client = app.test_client()
    client.get("/")
    client.get("/")
    assert len(seen) == 2


def test_a_view_whose_route_does_not_take_the_parameters_is_refused_when_used():
    """`as_view` handlers take `(request, **params)`, so the registration check passes; a
    method missing its parameter fails on the request: a 500, logged."""

    class Broken(MethodView):
        def get(self, request):
            return "no id"

    app = Rush()
    app.add_route("/b/<int:item_id>", Broken.as_view("broken"))
    assert app.test_client().get("/b/1").status_code == 500


def test_a_view_with_no_methods_registers_as_get():
    class Nothing(View):
        def dispatch_request(self, request):
            return "x"

    app = Rush()
    app.add_route("/", Nothing.as_view("nothing"))
    assert app.test_client().get("/").text == "x"
    with pytest.raises(RouteError):
        app.add_route("/", Nothing.as_view("again"))  # duplicate GET route
