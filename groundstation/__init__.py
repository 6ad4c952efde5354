"""SkyGuard ground station: composition root, station core, config, storage and CLI."""
