"""The HTTP side, standing in for API Gateway: v2 events and routes, the HTTP API, the docs pages, the server."""
