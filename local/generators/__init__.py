"""Generators of committed files (`make openapi`): openapi.json and the event schemas in schemas/."""
