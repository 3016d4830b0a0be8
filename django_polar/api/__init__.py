"""A JSON billing API for SPAs and mobile apps (optional; needs Django REST framework).

    path("api/billing/", include("django_polar.api.urls"))

Every endpoint is scoped to the billable of the request (``billable_for_request``): a
client can read and act on its own billing state only, and everything it reads comes from
the local mirror. Only creating a checkout, a portal session or changing a subscription
calls Polar.
"""
