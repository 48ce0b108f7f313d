"""People: who may act on what (roles, lanes and units), user accounts, and the notifications they get.

Depends only on the models; every other package may use it.
"""
