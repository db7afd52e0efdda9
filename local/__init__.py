"""The dev server behind `make dev` (`python -m local`): local stand-ins for API Gateway, Lambda and AWS."""
