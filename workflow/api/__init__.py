"""REST API (FastAPI): routers, schemas, authentication, problem+json errors."""
