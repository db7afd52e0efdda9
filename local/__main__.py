"""`python -m local` (what `make dev` runs): serve the API, Lambda's Invoke API and the AWS emulator."""

from local.server import main

if __name__ == "__main__":
    raise SystemExit(main())
