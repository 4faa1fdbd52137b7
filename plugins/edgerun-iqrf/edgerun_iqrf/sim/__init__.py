"""A simulated IQRF mesh: coordinator, nodes with Standard Sensor sensors, and the three
interfaces (UART and CDC over a pseudo-terminal, SPI through a fake spidev object)."""
