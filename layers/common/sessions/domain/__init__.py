"""The rules of sessions and events, without I/O: request models, limits, status, lineage, patches, usage."""
