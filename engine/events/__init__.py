"""Events for the platforms around banli (对接平台): the outbox written in the same transaction as each change,
the partner platforms with their machine users, and the signed webhooks that deliver the outbox to them."""
