/* Precompiled header for the LibTorch targets: parsing <torch/torch.h> once saves ~6 s a file. */
#pragma once
#include <torch/torch.h>
