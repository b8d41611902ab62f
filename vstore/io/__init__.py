"""Import and export, uploads and downloads: the io layer."""
