"""The use cases behind the endpoints, one module per resource or job; they reach AWS only through store/,
held as the protocols of ports.py."""
