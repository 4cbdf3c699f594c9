"""The demo tool's web service (make run copies examples/demo/ into its home).

uwsgi serves the WSGI callable `app` of $HOME/www/python/src/app.py, as
Toolforge's python web services do.
"""

import os


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    tool = os.environ.get("HOME", "/").rstrip("/").rsplit("/", 1)[-1]
    greeting = os.environ.get("GREETING", "Hello")
    return [f"{greeting} from the {tool} tool's web service on Toolforge\n".encode()]
