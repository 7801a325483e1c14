"""pensieve_mlx: The MLX engine: implements pensieve_core.Engine on MLX through mlx-lm. Knows nothing of HTTP."""

__all__: tuple[str, ...] = ()
