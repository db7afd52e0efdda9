"""The rules of sessions and events, without I/O: request models, the records the store holds (records.py),
limits, status, lineage, patches, usage."""
