"""People: who may act on what (roles, lanes and units), user accounts, and the notifications they get.

Depends only on the models; every other package may use it.
"""

# Registers the hooks that index every unit's name for the type-ahead as the unit is written, wherever that is.
from engine.people import unit_search  # noqa: E402,F401
