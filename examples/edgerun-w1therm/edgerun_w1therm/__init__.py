"""edgerun driver for 1-Wire thermometers."""
