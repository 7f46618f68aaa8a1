"""deit: DeiT vision transformers — train, distil, fine-tune, evaluate, analyse, export."""

__version__ = "0.1.0"
