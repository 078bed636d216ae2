"""Use cases: each takes a unit of work and the viewer, applies domain rules, and commits.
GraphQL resolvers, jobs, file imports and the CLI all call these — one path per rule."""
