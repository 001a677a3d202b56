"""Class-based views, in the shape of Flask's: `View` and `MethodView`.

`MyView.as_view("name")` is an ordinary handler `(request, **params)` to register with
`app.add_route(path, MyView.as_view("name"))`; a `MethodView`'s methods (`get`, `post`, ...)
become the route's methods. This module only builds handlers: it knows nothing of routing.
Import it as Flask's: `from rush.views import MethodView` (`import rush` does not load it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, ClassVar

__all__ = ["MethodView", "View"]

HTTP_METHOD_FUNCS = frozenset(("get", "post", "head", "options", "delete", "put", "trace", "patch"))


class View:
    """Subclass it and define `dispatch_request(self, request, **params)`.

    Class attributes: `methods` (the route's methods when the registration names none),
    `decorators` (applied to the handler `as_view` builds, first one innermost), and
    `init_every_request` (True: a new instance per request, so `self` may hold per-request
    state; False: one instance shared by every request, a little cheaper).
    """

    methods: ClassVar[Collection[str] | None] = None
    decorators: ClassVar[list[Callable[..., Any]]] = []
    init_every_request: ClassVar[bool] = True

    def dispatch_request(self, request: Any, **params: Any) -> Any:
        """Answer one request: what a handler returns. Subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define dispatch_request")

    @classmethod
    def as_view(cls, name: str, *class_args: Any, **class_kwargs: Any) -> Callable[..., Any]:
        """A handler `(request, **params)` named `name` that dispatches to an instance of
        this class, built from `class_args` and `class_kwargs`."""
        if cls.init_every_request:

            def view(request: Any, **params: Any) -> Any:
                self = cls(*class_args, **class_kwargs)
                return self.dispatch_request(request, **params)

        else:
            instance = cls(*class_args, **class_kwargs)

            def view(request: Any, **params: Any) -> Any:
                return instance.dispatch_request(request, **params)

        for decorator in cls.decorators:
            view = decorator(view)
        view.__name__ = view.__qualname__ = name
        view.__doc__ = cls.__doc__
        view.__module__ = cls.__module__
        view.view_class = cls  # type: ignore[attr-defined]
        view.methods = cls.methods  # type: ignore[attr-defined]
        return view


class MethodView(View):
    """A view whose methods `get`, `post`, `put`, ... answer those HTTP methods.

    The route's methods are the ones defined (unless the class sets `methods` itself); HEAD
    is answered by `get` when there is no `head`, as for any GET route.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "methods" not in cls.__dict__:
            methods: set[str] = set()
            for base in cls.__bases__:
                methods.update(getattr(base, "methods", None) or ())
            methods.update(name.upper() for name in HTTP_METHOD_FUNCS if hasattr(cls, name))
            if methods:
                cls.methods = sorted(methods)

    def dispatch_request(self, request: Any, **params: Any) -> Any:
        """Call the method named like the request's (`get` for GET; `get` answers HEAD
        too when the class has no `head`)."""
        method = getattr(self, request.method.lower(), None)
        if method is None and request.method == "HEAD":
            method = getattr(self, "get", None)
        if method is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no method for {request.method} "
                "(its route's methods and the class's functions disagree)"
            )
        return method(request, **params)
