"""Items (建议/提案): registration, the queries behind inboxes and lists, extensions, disclosure of replies,
the proposers' portal and similar-item help for assigners.

Commands here run through `workflow`; nothing below this package imports it.
"""
