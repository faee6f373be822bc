// Execution contexts for the emulator's kernel threads: a stack and a saved context per fiber, and the
// switch between a fiber and its host thread's scheduler. x86-64 switches with a few instructions
// (callee-saved registers, MXCSR and the x87 control word); other hosts use ucontext (slower: a system
// call per switch).
#pragma once
#include <cstddef>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace vgg::emu {

struct FiberContext {
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
  const void* stack_bottom = nullptr;  // for AddressSanitizer (a host thread's own stack: learnt on switch)
  size_t stack_size = 0;
  void* fake_stack = nullptr;
};

// A stack of `bytes` with an inaccessible guard page below it (an overflow faults instead of corrupting).
class FiberStack {
 public:
  explicit FiberStack(size_t bytes);
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  char* base() const { return base_; }
  size_t size() const { return bytes_; }

 private:
  char* map_ = nullptr;
  char* base_ = nullptr;
  size_t bytes_ = 0, map_bytes_ = 0;
};

// Prepares `ctx` so that switching to it runs entry() on `stack`; entry must never return.
void MakeFiber(FiberContext* ctx, const FiberStack& stack, void (*entry)());
// Saves the running context in `from` and resumes `to`.
void SwitchFiber(FiberContext* from, FiberContext* to);
// First thing a fiber's entry does: `previous` is the context that switched to it (its stack bounds are
// learnt here, for AddressSanitizer; nothing without it).
void FiberStarted(FiberContext* previous);

}  // namespace vgg::emu
