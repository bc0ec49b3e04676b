"""Which device TensorFlow trains on, said in words."""

from __future__ import annotations


def describe_device() -> str:
    """'GPU: <name> (n devices)' when TensorFlow sees a GPU, else 'CPU (n cores)'."""
    import os

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(
                    tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                )
            except Exception:
                names.append(gpu.name)
        return f"GPU: {names[0]}" + (f" ({len(gpus)} devices)" if len(gpus) > 1 else "")
    return f"CPU ({os.cpu_count()} cores)"


def has_gpu() -> bool:
    """True when TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))
