// vggnet_harness cuda-emu-check (the emulated build only, VGGNET_CUDA_EMULATION): the host emulator's own
// checks, on small kernels written here, so that a regression in the emulator cannot hide one in the
// conv kernels:
//   - ldmatrix.x4 + mma.sync (bf16, f16: m16n8k16; tf32: m16n8k8) on tiles laid out as conv_mma.cuh lays
//     them equal the plain matrix product (exactly: small integers);
//   - __shfl_xor_sync exchanges across lanes; cp.async lands only at its wait, zero-filling src-size 0;
//   - a missing barrier makes a block read shared memory another warp has not written yet;
//   - stream capture: launches and memsets on a capturing stream are recorded, not run, and run in order at
//     each graph launch; a synchronisation during a capture is refused and invalidates it;
//   - faults: __syncthreads() at different lines, after some threads exited, a warp operation with an
//     exited lane, a misaligned ldmatrix row, dynamic shared memory over the limit.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_harness.h"

#if VGGNET_CUDA_EMULATION
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/launch.cuh"
#include "cuda/ptx.cuh"
#endif

namespace vggh {

#if VGGNET_CUDA_EMULATION

namespace {

using vgg::cuda::Math;

// One warp: A (16×16 or 16×8, row-major, k contiguous) and B stored n-major (8 rows of k), each row 64
// bytes, through ldmatrix.x4 into mma.sync; D (16×8 floats) out. As in conv_mma.cuh: A rows lane & 15,
// chunk lane >> 4; B rows lane & 7 (+8 for the second fragment pair), chunk (lane >> 3) & 1.
template <Math M>
__global__ void mma_tile(const unsigned char* a, const unsigned char* b, float* d) {
  unsigned char* s = vgg::cuda::DynamicSmem<unsigned char>();
  const int lane = threadIdx.x;
  for (int i = lane; i < 16 * 64; i += 32) s[i] = a[i];
  for (int i = lane; i < 16 * 64; i += 32) s[1024 + i] = b[i];
  __syncwarp();
  unsigned af[4], bq[4];
  vgg::cuda::LdMatrixX4(af, s + (lane & 15) * 64 + (lane >> 4) * 16);
  vgg::cuda::LdMatrixX4(bq, s + 1024 + ((lane & 7) + ((lane >> 4) << 3)) * 64 + ((lane >> 3) & 1) * 16);
  const unsigned bf[2] = {bq[0], bq[1]};
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  vgg::cuda::MmaSync<M>(acc, af, bf);
  const int g = lane >> 2, t = lane & 3;
  d[g * 8 + 2 * t] = acc[0];
  d[g * 8 + 2 * t + 1] = acc[1];
  d[(g + 8) * 8 + 2 * t] = acc[2];
  d[(g + 8) * 8 + 2 * t + 1] = acc[3];
}

__global__ void shfl_xor(int* out) { out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x) * 10, 5); }

// Thread i copies 16 bytes (or zeros when i is odd) into shared memory; out[i] = the first float there
// before the wait and after it.
__global__ void cp_async(const float* src, float* before, float* after) {
  float* s = vgg::cuda::DynamicSmem<float>();
  const int i = threadIdx.x;
  vgg::cuda::CpAsync16(s + 4 * i, src + 4 * i, i % 2 == 0);
  vgg::cuda::CpAsyncCommit();
  before[i] = s[4 * i];
  vgg::cuda::CpAsyncWait<0>();
  after[i] = s[4 * i];
}

// Each thread writes its index to shared memory and reads its neighbour's (64 threads: two warps),
// with or without a barrier between.
__global__ void neighbour(bool barrier, float* out) {
  float* s = vgg::cuda::DynamicSmem<float>();
  const int i = threadIdx.x;
  s[i] = float(i);
  if (barrier) __syncthreads();
  out[i] = s[(i + 32) % 64];
}

__global__ void divergent_barrier() {
  if (threadIdx.x < 32) __syncthreads();
  else __syncthreads();
}
__global__ void barrier_after_exit() {
  if (threadIdx.x == 0) return;
  __syncthreads();
}
__global__ void shfl_after_exit(int* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}
__global__ void misaligned_ldmatrix() {
  unsigned r[4];
  vgg::cuda::LdMatrixX4(r, vgg::cuda::DynamicSmem<unsigned char>() + 8);
}

uint16_t Bits16(float v, Math m) {
  uint16_t b;
  if (m == Math::kBf16) {
    const __nv_bfloat16 h = __float2bfloat16_rn(v);
    std::memcpy(&b, &h, 2);
  } else {
    const __half h = __float2half_rn(v);
    std::memcpy(&b, &h, 2);
  }
  return b;
}

template <Math M>
bool CheckMma(std::string* why) {
  constexpr int K = M == Math::kTf32 ? 8 : 16, ES = M == Math::kTf32 ? 4 : 2;
  std::vector<unsigned char> a(16 * 64, 0), b(16 * 64, 0);
  float A[16][16], B[16][8];
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < K; ++k) A[i][k] = float((i * 3 + k * 5) % 7 - 3);
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < 8; ++j) B[k][j] = float((k * 2 + j * 3) % 5 - 2);
  auto put = [&](std::vector<unsigned char>& m, int row, int k, float v) {
    if (ES == 4) std::memcpy(&m[size_t(row) * 64 + k * 4], &v, 4);
    else {
      const uint16_t h = Bits16(v, M);
      std::memcpy(&m[size_t(row) * 64 + k * 2], &h, 2);
    }
  };
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < K; ++k) put(a, i, k, A[i][k]);
  for (int j = 0; j < 8; ++j)
    for (int k = 0; k < K; ++k) put(b, j, k, B[k][j]);  // B stored n-major: row j holds B[·][j]
  void *da, *db, *dd;
  cudaMalloc(&da, a.size());
  cudaMalloc(&db, b.size());
  cudaMalloc(&dd, 16 * 8 * sizeof(float));
  cudaMemcpy(da, a.data(), a.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(db, b.data(), b.size(), cudaMemcpyHostToDevice);
  cudaError_t e = vgg::cuda::Launch<mma_tile<M>>(1, 32, 2048, nullptr, static_cast<const unsigned char*>(da),
                                                 static_cast<const unsigned char*>(db), static_cast<float*>(dd));
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  float D[16 * 8];
  cudaMemcpy(D, dd, sizeof D, cudaMemcpyDeviceToHost);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dd);
  if (e != cudaSuccess) return *why = cudaGetErrorString(e), false;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      float want = 0;
      for (int k = 0; k < K; ++k) want += A[i][k] * B[k][j];
      if (D[i * 8 + j] != want)
        return *why = "D(" + std::to_string(i) + "," + std::to_string(j) + ") = " + std::to_string(D[i * 8 + j]) +
                      ", want " + std::to_string(want),
               false;
    }
  return true;
}

// Runs a kernel that must fault; true when the next synchronisation reports a launch failure whose
// message contains `expect`.
template <auto Kernel, typename... Args>
bool Faults(const char* expect, size_t smem, std::string* why, Args... args) {
  cudaError_t e = vgg::cuda::Launch<Kernel>(1, 64, smem, nullptr, args...);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  const std::string msg = e == cudaSuccess ? "no fault" : cudaGetErrorString(e);
  *why = msg;
  return e == cudaErrorLaunchFailure && msg.find(expect) != std::string::npos;
}

}  // namespace

int CudaEmuCheck(const CudaArgs&) {
  Tally t;
  std::string why;
  // Each check runs before its line is built (the order in which arguments are evaluated is unspecified).
  bool ok = CheckMma<Math::kBf16>(&why);
  t.Record(ok, "ldmatrix.x4 + mma.sync m16n8k16 bf16 equals the matrix product " + why);
  ok = CheckMma<Math::kFp16>(&why);
  t.Record(ok, "ldmatrix.x4 + mma.sync m16n8k16 f16 equals the matrix product " + why);
  ok = CheckMma<Math::kTf32>(&why);
  t.Record(ok, "ldmatrix.x4 + mma.sync m16n8k8 tf32 equals the matrix product " + why);

  {
    int* d;
    cudaMalloc(&d, 32 * sizeof(int));
    vgg::cuda::Launch<shfl_xor>(1, 32, 0, nullptr, d);
    int h[32];
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    cudaFree(d);
    bool same = true;
    for (int l = 0; l < 32; ++l) same = same && h[l] == (l ^ 5) * 10;
    t.Record(same, "__shfl_xor_sync(·, 5): lane l gets lane l^5's value");
  }
  {
    float *src, *before, *after;
    cudaMalloc(&src, 64 * sizeof(float));
    cudaMalloc(&before, 16 * sizeof(float));
    cudaMalloc(&after, 16 * sizeof(float));
    std::vector<float> h(64);
    for (int i = 0; i < 64; ++i) h[size_t(i)] = float(i + 1);
    cudaMemcpy(src, h.data(), 64 * sizeof(float), cudaMemcpyHostToDevice);
    vgg::cuda::Launch<cp_async>(1, 16, 64 * sizeof(float), nullptr, static_cast<const float*>(src), before, after);
    float b[16], a[16];
    cudaMemcpy(b, before, sizeof b, cudaMemcpyDeviceToHost);
    cudaMemcpy(a, after, sizeof a, cudaMemcpyDeviceToHost);
    bool landed = true;
    for (int i = 0; i < 16; ++i) landed = landed && b[i] != b[i] && a[i] == (i % 2 == 0 ? float(4 * i + 1) : 0.f);
    t.Record(landed, "cp.async: shared memory unchanged (NaN) before cp.async.wait_group, copied or zero-filled after");
    cudaFree(src);
    cudaFree(before);
    cudaFree(after);
  }
  {
    float* d;
    cudaMalloc(&d, 64 * sizeof(float));
    float h[64];
    vgg::cuda::Launch<neighbour>(1, 64, 64 * sizeof(float), nullptr, true, d);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    bool with = true;
    for (int i = 0; i < 64; ++i) with = with && h[i] == float((i + 32) % 64);
    vgg::cuda::Launch<neighbour>(1, 64, 64 * sizeof(float), nullptr, false, d);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    bool stale = false;
    for (int i = 0; i < 64; ++i) stale = stale || h[i] != h[i];
    cudaFree(d);
    t.Record(with && stale,
             "a warp reading another warp's shared memory: right with the barrier, unwritten (NaN) without it");
  }
  {
    // Capture: memset(d, 0) then shfl_xor(d) recorded; d is untouched (NaN bytes) until the graph runs.
    cudaStream_t s = nullptr;
    int* d = nullptr;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaMalloc(&d, 64 * sizeof(int));
    cudaMemset(d, 0x7f, 64 * sizeof(int));
    cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    if (e == cudaSuccess) e = cudaMemsetAsync(d + 32, 0, 32 * sizeof(int), s);
    if (e == cudaSuccess) e = vgg::cuda::Launch<shfl_xor>(1, 32, 0, s, d);
    cudaGraph_t g = nullptr;
    const cudaError_t ee = cudaStreamEndCapture(s, &g);
    int h[64];
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    bool untouched = true;
    for (int l = 0; l < 64; ++l) untouched = untouched && h[l] == 0x7f7f7f7f;
    cudaGraphExec_t x = nullptr;
    cudaError_t le = g ? cudaGraphInstantiate(&x, g, 0) : cudaErrorInvalidValue;
    cudaGraphDestroy(g);
    bool ran = false;
    for (int rep = 0; rep < 2 && le == cudaSuccess; ++rep) {
      cudaMemset(d, 0x7f, 64 * sizeof(int));
      le = cudaGraphLaunch(x, s);
      cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
      ran = true;
      for (int l = 0; l < 32; ++l) ran = ran && h[l] == (l ^ 5) * 10 && h[32 + l] == 0;
    }
    cudaGraphExecDestroy(x);
    t.Record(e == cudaSuccess && ee == cudaSuccess && untouched && le == cudaSuccess && ran,
             "capture: a memset and a launch recorded, not run; each graph launch runs them");
    // A synchronisation inside a capture is refused and the capture is invalidated.
    e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    const cudaError_t se = cudaStreamSynchronize(s);
    g = nullptr;
    const cudaError_t ie = cudaStreamEndCapture(s, &g);
    cudaGetLastError();
    t.Record(
        e == cudaSuccess && se == cudaErrorStreamCaptureUnsupported && ie == cudaErrorStreamCaptureInvalidated && !g,
        std::string("capture: cudaStreamSynchronize inside it is refused (") + cudaGetErrorName(se) +
            ") and invalidates it (" + cudaGetErrorName(ie) + ")");
    cudaFree(d);
    cudaStreamDestroy(s);
  }
  vgg::emu::SetFaultEcho(false);
  ok = Faults<divergent_barrier>("different __syncthreads", 0, &why);
  t.Record(ok, "fault: divergent __syncthreads: " + why);
  ok = Faults<barrier_after_exit>("exited", 0, &why);
  t.Record(ok, "fault: __syncthreads after a thread exited: " + why);
  {
    int* d;
    cudaMalloc(&d, 64 * sizeof(int));
    ok = Faults<shfl_after_exit>("exited", 0, &why, d);
    t.Record(ok, "fault: a shuffle with an exited lane: " + why);
    cudaFree(d);
  }
  ok = Faults<misaligned_ldmatrix>("not 16-byte aligned", 1024, &why);
  t.Record(ok, "fault: a misaligned ldmatrix row: " + why);
  vgg::emu::SetFaultEcho(true);
  {
    const cudaError_t e = vgg::cuda::Launch<divergent_barrier>(1, 64, size_t(100) << 10, nullptr);
    t.Record(e == cudaErrorInvalidConfiguration,
             std::string("launch with 100 KB of dynamic shared memory is refused: ") + cudaGetErrorName(e));
  }
  std::fflush(stdout);
  return t.Summary("cuda-emu-check", 0);
}

#endif

}  // namespace vggh
