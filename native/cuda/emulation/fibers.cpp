#include "fibers.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace vgg::emu {

FiberStack::FiberStack(size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  bytes_ = (bytes + page - 1) / page * page;
  map_bytes_ = bytes_ + page;
  void* m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  map_ = static_cast<char*>(m);
  mprotect(map_, page, PROT_NONE);  // guard page: stacks grow down
  base_ = map_ + page;
}

FiberStack::~FiberStack() {
  if (map_) munmap(map_, map_bytes_);
}

// AddressSanitizer must be told when the stack changes (its fake stacks and stack bounds), else it
// reports false errors: the emulated build under -DVGGNET_SANITIZE=ON checks the kernels' memory accesses.
#if defined(__SANITIZE_ADDRESS__)
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old);
extern "C" void __asan_unpoison_memory_region(const volatile void* addr, size_t size);
namespace {
// A stack reused by a new fiber may keep the poisoned scopes of a fiber abandoned mid-kernel (a fault).
void Unpoison(const FiberStack& s) { __asan_unpoison_memory_region(s.base(), s.size()); }
void StartSwitch(FiberContext* from, FiberContext* to) {
  __sanitizer_start_switch_fiber(&from->fake_stack, to->stack_bottom, to->stack_size);
}
void FinishSwitch(FiberContext* self) { __sanitizer_finish_switch_fiber(self->fake_stack, nullptr, nullptr); }
}  // namespace
void FiberStarted(FiberContext* previous) {
  __sanitizer_finish_switch_fiber(nullptr, &previous->stack_bottom, &previous->stack_size);
}
#else
namespace {
void Unpoison(const FiberStack&) {}
void StartSwitch(FiberContext*, FiberContext*) {}
void FinishSwitch(FiberContext*) {}
}  // namespace
void FiberStarted(FiberContext*) {}
#endif

#if defined(__x86_64__)

// vgg_emu_switch(void** save_sp, void* to_sp): pushes the callee-saved registers and the floating-point
// control state, saves the stack pointer, loads the other one and pops its state (System V ABI).
asm(R"(
  .text
  .p2align 4
  .globl vgg_emu_switch
  .hidden vgg_emu_switch
  .type vgg_emu_switch, @function
vgg_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size vgg_emu_switch, .-vgg_emu_switch
)");
extern "C" void vgg_emu_switch(void** save_sp, void* to_sp);

void MakeFiber(FiberContext* ctx, const FiberStack& stack, void (*entry)()) {
  Unpoison(stack);
  auto top = reinterpret_cast<uintptr_t>(stack.base() + stack.size()) & ~uintptr_t(15);
  auto* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;                                  // entry's return address: none (it never returns)
  *--sp = reinterpret_cast<uint64_t>(entry);  // where vgg_emu_switch's ret goes
  for (int i = 0; i < 6; ++i) *--sp = 0;      // rbp rbx r12 r13 r14 r15
  *--sp = uint64_t(0x037F) << 32 | 0x1F80;    // x87 control word, MXCSR: the ABI's defaults
  ctx->sp = sp;                               // entry starts with rsp ≡ 8 (mod 16), as after a call
}

void SwitchFiber(FiberContext* from, FiberContext* to) {
  StartSwitch(from, to);
  vgg_emu_switch(&from->sp, to->sp);
  FinishSwitch(from);
}

#else

void MakeFiber(FiberContext* ctx, const FiberStack& stack, void (*entry)()) {
  Unpoison(stack);
  getcontext(&ctx->uc);
  ctx->uc.uc_stack.ss_sp = stack.base();
  ctx->uc.uc_stack.ss_size = stack.size();
  ctx->uc.uc_link = nullptr;
  makecontext(&ctx->uc, entry, 0);
  ctx->stack_bottom = stack.base();
  ctx->stack_size = stack.size();
}

void SwitchFiber(FiberContext* from, FiberContext* to) {
  StartSwitch(from, to);
  swapcontext(&from->uc, &to->uc);
  FinishSwitch(from);
}

#endif

}  // namespace vgg::emu
