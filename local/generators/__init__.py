"""Generators of committed files (`make openapi`): openapi.json, the event schemas in schemas/, and the
client's sync client (client/src/sessions_client/_sync.py, from the async one)."""
