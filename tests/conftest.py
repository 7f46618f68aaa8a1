"""Suite-wide settings: one intra-op thread per test process (tiny models are slower with more on 2 cores,
and subprocess tests run beside the test process)."""

import torch

torch.set_num_threads(1)
