"""Vision models by name from the libraries that ship them (``torchvision:``, ``timm:``, ``keras:``, ``hf:``)."""
