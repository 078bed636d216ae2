"""HTTP: the Starlette application, authentication, the GraphQL view and downloads."""
