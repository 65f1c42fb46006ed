"""streamanon: real-time face anonymization for video.

Every face is replaced (or covered) before a frame leaves; each tracked person keeps one
synthetic identity; every output frame carries machine-readable provenance.
"""

__version__ = "0.1.0"

PROJECT_UUID = "5f3a1c2e-7b9d-4e21-9a4c-3d8e6f0b1a27"
"""Fixed UUID of the SEI ``user_data_unregistered`` messages streamanon writes."""

__all__ = ["__version__", "PROJECT_UUID"]
