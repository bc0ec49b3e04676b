"""The engine's fast route (``route.FastRoute``) and its fused kernels (``fused.py``): opt-in,
and the kernels only on the Keras versions they are tested with."""
