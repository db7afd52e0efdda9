"""The use cases behind the endpoints, one module per resource or job; every AWS client comes from store/,
and the store is held as the protocols of ports.py."""
