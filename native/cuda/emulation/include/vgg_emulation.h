// The host emulation of native/cuda (VGGNET_CUDA_EMULATION builds: CMake option of that name): what the
// kernels' .cu files, compiled as plain C++ against this folder's cuda_runtime.h / cuda_fp16.h /
// cuda_bf16.h / mma.h, call into. A launch runs every block of the grid on the host (blocks spread over
// the host's cores); a block's threads are cooperative fibers on one host thread, so __syncthreads() is
// a real barrier and warp-collective operations (shuffles, wmma, ldmatrix, mma.sync) wait for every
// lane of their warp. A thread runs until it blocks; the warps of a block take turns in an order that
// alternates between barrier intervals, so a missing barrier lets one warp read shared memory that
// another has not written yet (or has already overwritten). What it checks, beyond the results:
//   - barriers: a __syncthreads() reached from different source lines, or after some threads of the
//     block exited, or never reached by every thread (deadlock);
//   - warp operations: divergent (different operations, non-uniform arguments), or with exited lanes;
//   - the operand rules of wmma (32-byte aligned pointers, ldm a multiple of 16 bytes), ldmatrix
//     (16-byte aligned rows in the block's dynamic shared memory) and cp.async (16-byte aligned, 16-byte
//     copies, shared destination); copies of cp.async land only at cp.async.wait_group, so reading early
//     reads stale data; mma.sync and ldmatrix use the PTX ISA's documented fragment layouts;
//   - launch configurations (block size, grid size, dynamic shared memory against the smallest opt-in
//     limit of the GPUs the kernels target, 99 KB on sm_86/sm_89).
// Device memory and dynamic shared memory start filled with 0xFF bytes (NaN in fp32, fp16 and bf16).
// Device allocations are exactly as long as asked: built with -DVGGNET_SANITIZE=ON (AddressSanitizer,
// told of every fiber switch) the emulation is also a memory checker, and a cp.async from outside any
// allocation is a fault naming the copy.
// A fault stops the kernel, prints what and where (kernel, block, thread, source line) on stderr and is
// returned by the next synchronising call as cudaErrorLaunchFailure (then cleared: unlike a GPU, the
// emulated context survives, so the next check runs).
// What it cannot see: races inside one barrier interval that this schedule does not expose, static
// __shared__ arrays read before they are written (they are host thread_local storage, not poisoned),
// speed, and register or shared-memory limits other than the above.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

namespace vgg::emu {

// CUDA's built-in variables of the running kernel thread.
struct ThreadCtx {
  uint3 thread_idx{0, 0, 0}, block_idx{0, 0, 0};
  dim3 block_dim, grid_dim;
  unsigned char* dyn_smem = nullptr;  // extern __shared__ storage of the block
  size_t dyn_smem_bytes = 0;
  unsigned lane = 0, warp = 0;
};
// The kernel thread (fiber) running on this host thread; null outside kernels.
extern thread_local ThreadCtx* t_thread;

// __syncthreads(), named by its source line (threads of a block must all reach the same one).
void SyncThreads(const char* file, int line);
// Waits for every lane of the warp (`mask` must be the full warp: the emulator supports nothing else).
void SyncWarp(unsigned mask);

// A warp-collective operation: every live lane of the warp calls it with the same `op` (a static string
// naming the operation) and a pointer to its own operands and results; the last lane to arrive calls
// complete(lanes) with lanes[l] = what lane l passed, then every lane continues. `complete` checks the
// operands (Fault on a violation) and writes each lane's results through its pointer.
using WarpComplete = void (*)(void* const* lanes);
void WarpCollective(const char* op, void* mine, WarpComplete complete);

// Stops the running kernel: prints the message with kernel, block and thread, and makes the launch fail.
[[noreturn]] void Fault(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// True when [p, p + bytes) lies in the running block's dynamic shared memory.
bool InSharedMemory(const void* p, size_t bytes);

// cp.async emulation (per kernel thread): a copy of `bytes` (16) into shared memory, of which the first
// `src_bytes` come from `src` and the rest are zeros, lands when its group is waited for.
void CpAsync(void* dst, const void* src, int bytes, int src_bytes);
void CpAsyncCommit();
void CpAsyncWait(int newest_pending_allowed);

// ldmatrix.sync.aligned.m8n8.x4.shared.b16 and mma.sync (native/cuda/ptx.cuh gives the layouts).
void LdMatrixX4(unsigned (&r)[4], const void* row);
enum class MmaKind { kBf16, kFp16, kTf32 };  // m16n8k16 bf16 / f16, m16n8k8 tf32; fp32 accumulation
void MmaSync(MmaKind kind, float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]);

// A fault planted in the kernels on purpose (cuda/planted_fault.cuh), chosen with the environment
// variable VGGNET_CUDA_EMU_FAULT or SetPlantedFault.
int PlantedFault();
void SetPlantedFault(int fault);
// Whether a kernel fault is also printed on stderr when it happens (default on; its message is in any
// case the cudaGetErrorString of the cudaErrorLaunchFailure that reports it).
void SetFaultEcho(bool on);

// Runs thread_main(ctx) once for every thread of the grid, each block on one host thread with its
// threads as fibers. Returns a launch-configuration error (a cudaError_t value) at once; a fault inside
// the kernel is returned by the next synchronising call.
struct LaunchSpec {
  dim3 grid, block;
  size_t smem = 0;
  const char* kernel = "";          // the kernel's name, for fault messages
  const void* kernel_fn = nullptr;  // the kernel, for its cudaFuncSetAttribute settings
};
int RunKernel(const LaunchSpec& spec, void (*thread_main)(void*), void* ctx);

// Stream capture (cudaStreamBeginCapture … cudaStreamEndCapture): work queued on a capturing stream is recorded
// as an op (returning a cudaError_t value) that the graph runs, in order, at each cudaGraphLaunch. `stream` is
// a cudaStream_t. A launch's configuration is checked when the graph runs, not when it is recorded.
bool IsCapturing(const void* stream);
void RecordOp(const void* stream, std::function<int()> op);

// "kernel<args>" from the __PRETTY_FUNCTION__ of KernelName<K>() below (a static string per kernel).
const char* KernelNameFrom(const char* pretty);
template <auto K>
const char* KernelName() {
  static const char* name = KernelNameFrom(__PRETTY_FUNCTION__);
  return name;
}

}  // namespace vgg::emu
