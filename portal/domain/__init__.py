"""The business core of portal: entities, value objects and rules. Imports no framework."""
