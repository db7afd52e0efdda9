"""The session service, shared by every function through the common layer; its folders are its layers.

http -> usecases -> store -> domain -> core: each imports only from those after it (import-linter, pyproject.toml).
"""
