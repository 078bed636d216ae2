"""Mutation resolvers, one module per area: parse input → call a service → map to payload."""
