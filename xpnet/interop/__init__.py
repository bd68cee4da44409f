"""Interchange with PyTorch: state dicts in PyTorch's names through safetensors files
(:mod:`xpnet.interop.state_dict`). ONNX files are :mod:`xpnet.onnx`'s."""

from xpnet.interop.state_dict import StateDictError, load_state_dict, save_state_dict

__all__ = ["StateDictError", "load_state_dict", "save_state_dict"]
