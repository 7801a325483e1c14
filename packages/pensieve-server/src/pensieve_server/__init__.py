"""pensieve_server: The HTTP server: Starlette on Hypercorn over any pensieve_core.Engine."""

__all__: tuple[str, ...] = ()
