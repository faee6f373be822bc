// nvcuda::wmma for the host emulation (VGGNET_CUDA_EMULATION). Fragment layouts are unspecified by CUDA;
// here element (r, c) of a fragment's R×C matrix is x[p / 32] of lane p % 32, p = r·C + c, so code that
// assumes any other mapping computes wrong results. load/store/mma_sync are warp-collective and check
// CUDA's rules: one pointer, ldm and layout for the whole warp, pointers 32-byte (256-bit) aligned, ldm a
// multiple of 16 bytes (8 __half / 4 float elements). mma_sync multiplies what the tensor cores read:
// tf32 operands truncated to their upper 19 bits, fp16/bf16 exactly; the products are exact in fp32 and
// summed in k order with fp32 fused multiply-adds onto the accumulator.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "cuda_runtime.h"

namespace nvcuda::wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };
namespace precision {
struct tf32 {};
}  // namespace precision

// cvt.rna.tf32.f32: round to the nearest tf32 (10-bit mantissa), ties away from zero.
inline float __float_to_tf32(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  return __uint_as_float(u);
}

namespace detail {
template <typename T>
struct Elem {
  using type = T;
};
template <>
struct Elem<precision::tf32> {
  using type = float;
};
template <typename Use, int M, int N, int K>
struct Shape;
template <int M, int N, int K>
struct Shape<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct Shape<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct Shape<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};
// The value a tensor core multiplies.
inline float Operand(float v, precision::tf32) { return __uint_as_float(__float_as_uint(v) & 0xffffe000u); }
inline float Operand(__half v, __half) { return __half2float(v); }
inline float Operand(__nv_bfloat16 v, __nv_bfloat16) { return __bfloat162float(v); }
inline float Operand(float v, float) { return v; }
}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  using element_type = typename detail::Elem<T>::type;
  static constexpr int rows = detail::Shape<Use, M, N, K>::rows;
  static constexpr int cols = detail::Shape<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols / 32;
  element_type x[num_elements];
};

template <typename Use, int M, int N, int K, typename T, typename L>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f,
                          const typename fragment<Use, M, N, K, T, L>::element_type& v) {
  for (auto& e : f.x) e = v;
}

namespace detail {

struct Access {
  const void* ptr;
  unsigned ldm;
  bool col_major;
  void* frag;
};

template <typename Frag>
void CheckAccess(void* const* lanes, const char* op) {
  const Access& a0 = *static_cast<const Access*>(lanes[0]);
  for (int l = 1; l < 32; ++l) {
    const Access& a = *static_cast<const Access*>(lanes[l]);
    if (a.ptr != a0.ptr || a.ldm != a0.ldm || a.col_major != a0.col_major)
      ::vgg::emu::Fault("%s: lanes 0 and %d pass different arguments (%p, ldm %u) vs (%p, ldm %u)", op, l, a0.ptr,
                        a0.ldm, a.ptr, a.ldm);
  }
  if (reinterpret_cast<uintptr_t>(a0.ptr) % 32) ::vgg::emu::Fault("%s: pointer %p is not 256-bit aligned", op, a0.ptr);
  if (a0.ldm * sizeof(typename Frag::element_type) % 16)
    ::vgg::emu::Fault("%s: ldm %u is not a multiple of 16 bytes", op, a0.ldm);
}

template <typename Frag>
void LoadComplete(void* const* lanes) {
  CheckAccess<Frag>(lanes, "wmma::load_matrix_sync");
  const Access& a0 = *static_cast<const Access*>(lanes[0]);
  const auto* m = static_cast<const typename Frag::element_type*>(a0.ptr);
  for (int p = 0; p < Frag::rows * Frag::cols; ++p) {
    const int r = p / Frag::cols, c = p % Frag::cols;
    auto* f = static_cast<Frag*>(static_cast<const Access*>(lanes[p % 32])->frag);
    f->x[p / 32] = a0.col_major ? m[size_t(c) * a0.ldm + r] : m[size_t(r) * a0.ldm + c];
  }
}

template <typename Frag>
void StoreComplete(void* const* lanes) {
  CheckAccess<Frag>(lanes, "wmma::store_matrix_sync");
  const Access& a0 = *static_cast<const Access*>(lanes[0]);
  auto* m = static_cast<float*>(const_cast<void*>(a0.ptr));
  for (int p = 0; p < Frag::rows * Frag::cols; ++p) {
    const int r = p / Frag::cols, c = p % Frag::cols;
    const auto* f = static_cast<const Frag*>(static_cast<const Access*>(lanes[p % 32])->frag);
    (a0.col_major ? m[size_t(c) * a0.ldm + r] : m[size_t(r) * a0.ldm + c]) = f->x[p / 32];
  }
}

struct MmaLane {
  const void *a, *b, *c;
  void* d;
};

template <typename FD, typename FA, typename FB, typename FC, typename TA, typename TB>
void MmaComplete(void* const* lanes) {
  constexpr int M = FA::rows, K = FA::cols, N = FB::cols;
  float A[M][K], B[K][N], D[M][N];
  for (int p = 0; p < M * K; ++p)
    A[p / K][p % K] = Operand(static_cast<const FA*>(static_cast<const MmaLane*>(lanes[p % 32])->a)->x[p / 32], TA());
  for (int p = 0; p < K * N; ++p)
    B[p / N][p % N] = Operand(static_cast<const FB*>(static_cast<const MmaLane*>(lanes[p % 32])->b)->x[p / 32], TB());
  for (int p = 0; p < M * N; ++p)
    D[p / N][p % N] = static_cast<const FC*>(static_cast<const MmaLane*>(lanes[p % 32])->c)->x[p / 32];
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k) D[m][n] = fmaf(A[m][k], B[k][n], D[m][n]);
  for (int p = 0; p < M * N; ++p)
    static_cast<FD*>(static_cast<const MmaLane*>(lanes[p % 32])->d)->x[p / 32] = D[p / N][p % N];
}

}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename L>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f,
                             const typename fragment<Use, M, N, K, T, L>::element_type* p, unsigned ldm) {
  detail::Access a{p, ldm, std::is_same<L, col_major>::value, &f};
  ::vgg::emu::WarpCollective("wmma::load_matrix_sync", &a, detail::LoadComplete<fragment<Use, M, N, K, T, L>>);
}

template <int M, int N, int K>
inline void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t l) {
  detail::Access a{p, ldm, l == mem_col_major, &f};
  ::vgg::emu::WarpCollective("wmma::load_matrix_sync", &a, detail::LoadComplete<fragment<accumulator, M, N, K, float>>);
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t l) {
  detail::Access a{p, ldm, l == mem_col_major, const_cast<fragment<accumulator, M, N, K, float>*>(&f)};
  ::vgg::emu::WarpCollective("wmma::store_matrix_sync", &a,
                             detail::StoreComplete<fragment<accumulator, M, N, K, float>>);
}

template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, float>& c,
                     bool = false) {
  detail::MmaLane l{&a, &b, &c, &d};
  using FC = fragment<accumulator, M, N, K, float>;
  ::vgg::emu::WarpCollective(
      "wmma::mma_sync", &l,
      detail::MmaComplete<FC, fragment<matrix_a, M, N, K, TA, LA>, fragment<matrix_b, M, N, K, TB, LB>, FC, TA, TB>);
}

}  // namespace nvcuda::wmma
