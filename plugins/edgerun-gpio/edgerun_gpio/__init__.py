"""edgerun GPIO driver: inputs (level, edges, pulse counters) and commanded outputs."""
