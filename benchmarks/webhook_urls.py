"""The real inbox next to the floor: a view that only stores the raw body."""

from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
@transaction.non_atomic_requests
def baseline(request):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_raw_body (body) VALUES (%s)", [request.body.decode()])
    return HttpResponse(status=200)


urlpatterns = [
    path("polar/", include("django_polar.urls")),
    path("baseline/", baseline),
]
