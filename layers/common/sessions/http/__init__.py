"""The HTTP edge every function shares: the resolver and Lambda entry, identity, parameters, problems, idempotency."""
