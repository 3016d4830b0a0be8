"""The one way the app redirects a browser after an action: 303 See Other.

A 303 makes the browser follow with GET whatever the method was (a POSTed checkout form
lands on Polar's page with GET), so the checkout, the portal and the views share it.
"""

from __future__ import annotations

from django.http import HttpResponseRedirect


def see_other(url: str) -> HttpResponseRedirect:
    """A 303 redirect to ``url`` (no same-site check: callers pass Polar's or our URLs)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response
