"""The demo installation's shared password (every demo login uses it; README lists the logins)."""

DEMO_PASSWORD = "banli2026"
