// The CPU backend's host buffers are core/host_memory.h's (the binding uses them too).
#pragma once
#include "core/host_memory.h"

namespace vgg::cpu {
using vgg::AlignedBuf;
using vgg::AlignedFloats;
using vgg::FreeDeleter;
using vgg::FreeFloats;
using vgg::kAlign;
}  // namespace vgg::cpu
