"""The stack as template.yaml defines it: the template reader and the dev server's settings (ports, limits)."""
