"""The graph's variants: optimized, quantized, exported, compressed, evaluated, and which ships."""
