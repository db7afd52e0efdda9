"""The session service's domain package, shared by every function through the common layer."""
