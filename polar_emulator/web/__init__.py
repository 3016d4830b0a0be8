"""The emulator over HTTP: the WSGI server, the browser pages (checkout, portal, claim) and
their static files."""
