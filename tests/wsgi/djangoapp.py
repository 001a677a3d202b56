"""A minimal Django project in one module: settings in code, three views, the WSGI handler
(what `mysite.wsgi:application` is in a real project)."""

from __future__ import annotations

import django
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

settings.configure(
    DEBUG=False,
    SECRET_KEY="only-for-tests",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    USE_TZ=True,
)
django.setup()


def index(request):
    return HttpResponse(f"django ok {request.path} {request.META['SCRIPT_NAME']}")


@csrf_exempt
def form(request):
    if request.method != "POST":
        return HttpResponse("post only", status=405)
    return HttpResponse(f"hello {request.POST['name']} ({len(request.body)} bytes)")


def stream(request):
    return StreamingHttpResponse((f"part {i}\n" for i in range(3)), content_type="text/plain")


urlpatterns = [path("", index), path("form/", form), path("stream/", stream)]

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings.configure

application = get_wsgi_application()
