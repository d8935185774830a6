"""The plugin contract: hook specifications, the plugin manager, metadata schemas and errors."""
