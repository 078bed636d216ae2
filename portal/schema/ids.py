"""Global ids for the GraphQL layer (the implementation is framework-free)."""

from portal.global_ids import InvalidGlobalId, decode_id, decode_typed, encode_id

__all__ = ["InvalidGlobalId", "decode_id", "decode_typed", "encode_id"]
