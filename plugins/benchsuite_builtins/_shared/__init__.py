"""What the built-in plugins share, private to them: framework imports (torchvision, Keras), the hooked PyTorch
runner, Keras architectures, the Hugging Face hub cache, sentence encoders and word-vector files. Not part of the
public plugin API: third-party plugins use ``benchsuite.plugin``."""
