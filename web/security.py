"""Security headers on every response (our own: five headers do not need a dependency).

- Content-Security-Policy: scripts, styles, images and fonts from this site only; no plugins, no framing,
  forms post only here. The pages have no inline script (data travels in <script type="application/json">,
  which is not executed); inline styles stay allowed because the diagram libraries set them.
- X-Frame-Options DENY and frame-ancestors 'none': no clickjacking through a frame.
- X-Content-Type-Options nosniff: an uploaded or exported file is never sniffed into HTML or script.
- Referrer-Policy same-origin: item ids and searches in URLs do not leak to other sites.
- Cache-Control no-store on everything a signed-in user sees: a shared office computer's back button or
  cache does not show the previous user's items.
- Strict-Transport-Security in production (HTTPS behind the proxy).
"""
from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("PRODUCTION"):
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint != "static" and current_user and current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response
