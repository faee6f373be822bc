// What the emulator's launch code (scheduler.cpp) reports to its runtime API (runtime.cpp).
#pragma once
#include <cstddef>
#include <string>

namespace vgg::emu {

// A launch refused for its configuration (printed; the launch returns the error).
void ReportLaunchError(const char* kernel, const char* what);
// A fault inside a kernel: printed, and returned as cudaErrorLaunchFailure by the next synchronising call.
void ReportKernelFault(const std::string& what);
// The dynamic shared memory a launch of `kernel_fn` may use: 48 KB, or what cudaFuncSetAttribute set.
size_t DynamicSmemLimit(const void* kernel_fn);

}  // namespace vgg::emu
