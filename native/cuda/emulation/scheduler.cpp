// Kernel launches of the emulator: blocks spread over host threads, each block's threads run as fibers
// by a scheduler on one host thread (see vgg_emulation.h for the model and what it checks).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emulator_state.h"
#include "fibers.h"
#include "vgg_emulation.h"

namespace vgg::emu {

thread_local ThreadCtx* t_thread = nullptr;

#if defined(__SANITIZE_ADDRESS__)
extern "C" void* __asan_region_is_poisoned(void* beg, size_t size);
#endif

namespace {

constexpr size_t kStackBytes = size_t(256) << 10;
constexpr int kMaxThreads = 1024;

struct PendingCopy {
  unsigned char* dst;
  const unsigned char* src;
  int bytes, src_bytes;
};

struct Fiber {
  ThreadCtx ctx;
  FiberContext fc;
  std::unique_ptr<FiberStack> stack;
  enum class State { kReady, kAtBarrier, kAtWarpOp, kDone } state = State::kReady;
  const char* bar_file = nullptr;
  int bar_line = 0;
  std::vector<PendingCopy> copies;  // cp.async copies not landed yet, oldest first
  std::vector<size_t> group_ends;   // committed groups: end index into `copies`, oldest first
};

struct Warp {
  int lanes = 0;  // threads of the block in this warp
  int live = 0;   // lanes not exited
  int arrived = 0;
  const char* op = nullptr;
  void* slots[32] = {};
};

// One host thread's executor: the fibers of the block it runs, and the scheduler's own context.
struct Executor {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  FiberContext sched;
  Fiber* cur = nullptr;
  std::vector<unsigned char> smem;  // dynamic shared memory (+128 bytes for alignment)
  unsigned char* smem_base = nullptr;
  size_t smem_bytes = 0;
  const LaunchSpec* spec = nullptr;
  void (*thread_main)(void*) = nullptr;
  void* main_ctx = nullptr;
  bool faulted = false;
  std::string fault;
};

thread_local Executor* t_exec = nullptr;

Executor& ThisExecutor() {
  thread_local std::unique_ptr<Executor> e;
  if (!e) e = std::make_unique<Executor>();
  return *e;
}

void Yield(Fiber& f) { SwitchFiber(&f.fc, &t_exec->sched); }

std::string Where(const Executor& e, const Fiber* f) {
  char b[256];
  if (f)
    std::snprintf(b, sizeof b, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", e.spec->kernel, f->ctx.block_idx.x,
                  f->ctx.block_idx.y, f->ctx.block_idx.z, f->ctx.thread_idx.x, f->ctx.thread_idx.y,
                  f->ctx.thread_idx.z);
  else
    std::snprintf(b, sizeof b, "kernel %s, block (%u,%u,%u)", e.spec->kernel, e.fibers[0].ctx.block_idx.x,
                  e.fibers[0].ctx.block_idx.y, e.fibers[0].ctx.block_idx.z);
  return b;
}

// A fault the scheduler finds (no fiber to blame): recorded, the block stops.
void SchedulerFault(Executor& e, const std::string& what) {
  if (e.faulted) return;
  e.faulted = true;
  e.fault = Where(e, nullptr) + ": " + what;
}

void LandCopies(Fiber& f, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const PendingCopy& c = f.copies[i];
    if (c.src_bytes) std::memcpy(c.dst, c.src, size_t(c.src_bytes));
    if (c.bytes > c.src_bytes) std::memset(c.dst + c.src_bytes, 0, size_t(c.bytes - c.src_bytes));
  }
  f.copies.erase(f.copies.begin(), f.copies.begin() + long(count));
}

void FiberMain() {
  Executor& e = *t_exec;
  FiberStarted(&e.sched);
  Fiber& f = *e.cur;
  e.thread_main(e.main_ctx);
  f.copies.clear();  // copies never waited for: their data is never read
  f.group_ends.clear();
  f.state = Fiber::State::kDone;
  Warp& w = e.warps[f.ctx.warp];
  --w.live;
  if (w.arrived > 0)
    Fault("thread exited while %d lane(s) of its warp wait in %s for every lane", w.arrived, w.op ? w.op : "?");
  Yield(f);
  std::abort();  // never resumed
}

void RunBlock(Executor& e, const uint3& bid) {
  const LaunchSpec& s = *e.spec;
  const int nthreads = int(s.block.x * s.block.y * s.block.z);
  const int nwarps = (nthreads + 31) / 32;
  e.warps.assign(size_t(nwarps), Warp{});
  if (e.smem_bytes) std::memset(e.smem_base, 0xFF, e.smem_bytes);
  for (int t = 0; t < nthreads; ++t) {
    Fiber& f = e.fibers[size_t(t)];
    f.ctx.thread_idx = {unsigned(t) % s.block.x, unsigned(t) / s.block.x % s.block.y,
                        unsigned(t) / (s.block.x * s.block.y)};
    f.ctx.block_idx = bid;
    f.ctx.block_dim = s.block;
    f.ctx.grid_dim = s.grid;
    f.ctx.dyn_smem = e.smem_base;
    f.ctx.dyn_smem_bytes = e.smem_bytes;
    f.ctx.lane = unsigned(t % 32);
    f.ctx.warp = unsigned(t / 32);
    f.state = Fiber::State::kReady;
    f.copies.clear();
    f.group_ends.clear();
    MakeFiber(&f.fc, *f.stack, FiberMain);
    ++e.warps[size_t(t / 32)].lanes;
    ++e.warps[size_t(t / 32)].live;
  }
  bool reverse = false;
  for (;;) {
    // Each warp in turn runs until every lane waits at the block barrier or is done; warp operations
    // complete inside the warp, so a warp runs ahead of the others as far as the barrier lets it.
    for (int k = 0; k < nwarps; ++k) {
      const int w = reverse ? nwarps - 1 - k : k;
      const int lo = w * 32, hi = std::min(nthreads, lo + 32);
      for (bool ran = true; ran;) {
        ran = false;
        for (int t = lo; t < hi; ++t) {
          Fiber& f = e.fibers[size_t(t)];
          if (f.state != Fiber::State::kReady) continue;
          e.cur = &f;
          t_thread = &f.ctx;
          SwitchFiber(&e.sched, &f.fc);
          t_thread = nullptr;
          e.cur = nullptr;
          if (e.faulted) return;
          ran = true;
        }
      }
    }
    int done = 0, at_bar = 0;
    const Fiber* first_bar = nullptr;
    const Fiber* warp_waiter = nullptr;
    for (int t = 0; t < nthreads; ++t) {
      const Fiber& f = e.fibers[size_t(t)];
      if (f.state == Fiber::State::kDone) ++done;
      else if (f.state == Fiber::State::kAtBarrier) {
        ++at_bar;
        if (!first_bar) first_bar = &f;
      } else if (f.state == Fiber::State::kAtWarpOp && !warp_waiter) {
        warp_waiter = &f;
      }
    }
    if (done == nthreads) return;
    char b[512];
    if (warp_waiter) {
      const Warp& w = e.warps[warp_waiter->ctx.warp];
      std::snprintf(b, sizeof b,
                    "deadlock: %d lane(s) of warp %u wait in %s for the others, which are at a __syncthreads() "
                    "or exited",
                    w.arrived, warp_waiter->ctx.warp, w.op ? w.op : "?");
      return SchedulerFault(e, b);
    }
    for (int t = 0; t < nthreads; ++t) {
      const Fiber& f = e.fibers[size_t(t)];
      if (f.state == Fiber::State::kAtBarrier &&
          (f.bar_line != first_bar->bar_line || std::strcmp(f.bar_file, first_bar->bar_file) != 0)) {
        std::snprintf(b, sizeof b, "threads wait at different __syncthreads(): thread %u at %s:%d, thread %d at %s:%d",
                      first_bar->ctx.thread_idx.x, first_bar->bar_file, first_bar->bar_line, t, f.bar_file, f.bar_line);
        return SchedulerFault(e, b);
      }
    }
    if (done > 0) {
      std::snprintf(b, sizeof b, "__syncthreads() at %s:%d reached by %d thread(s) after %d thread(s) exited",
                    first_bar->bar_file, first_bar->bar_line, at_bar, done);
      return SchedulerFault(e, b);
    }
    for (Fiber& f : e.fibers) f.state = Fiber::State::kReady;
    reverse = !reverse;
  }
}

// Host threads that run blocks, kept between launches (each keeps its fibers' stacks).
class BlockPool {
 public:
  static BlockPool& Get() {
    static BlockPool* p = new BlockPool();  // never destroyed: workers may outlive static destructors
    return *p;
  }
  // Runs job(worker) on `n` host threads (the caller is one of them) and waits for all.
  void Run(int n, const std::function<void()>& job) {
    std::unique_lock<std::mutex> lock(mu_);
    while (int(workers_.size()) < n - 1) workers_.emplace_back([this] { Loop(); });
    job_ = &job;
    helpers_ = n - 1;
    running_ = n - 1;
    ++generation_;
    cv_.notify_all();
    lock.unlock();
    job();
    lock.lock();
    done_cv_.wait(lock, [this] { return running_ == 0; });
    job_ = nullptr;
  }

 private:
  void Loop() {
    unsigned seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return generation_ != seen && helpers_ > 0; });
      seen = generation_;
      --helpers_;
      const std::function<void()>* job = job_;
      lock.unlock();
      (*job)();
      lock.lock();
      if (--running_ == 0) done_cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void()>* job_ = nullptr;
  int helpers_ = 0, running_ = 0;
  unsigned generation_ = 0;
};

int HostThreads() {
  static const int n = [] {
    const char* v = std::getenv("VGGNET_CUDA_EMU_THREADS");
    const int env = v ? std::atoi(v) : 0;
    const int hw = int(std::thread::hardware_concurrency());
    return std::max(1, env > 0 ? env : hw);
  }();
  return n;
}

std::atomic<int> g_planted{-1};

}  // namespace

void Fault(const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  Executor* e = t_exec;
  if (!e || !e->cur) {
    std::fprintf(stderr, "vggnet CUDA emulator: %s (outside a kernel)\n", msg);
    std::abort();
  }
  if (!e->faulted) {
    e->faulted = true;
    e->fault = Where(*e, e->cur) + ": " + msg;
  }
  for (;;) Yield(*e->cur);  // never resumed: the scheduler abandons the block
}

void SyncThreads(const char* file, int line) {
  Executor* e = t_exec;
  if (!e || !e->cur) Fault("__syncthreads() outside a kernel");
  Fiber& f = *e->cur;
  f.state = Fiber::State::kAtBarrier;
  const char* slash = std::strrchr(file, '/');
  f.bar_file = slash ? slash + 1 : file;
  f.bar_line = line;
  Yield(f);
}

void WarpCollective(const char* op, void* mine, WarpComplete complete) {
  Executor* e = t_exec;
  if (!e || !e->cur) Fault("%s outside a kernel", op);
  Fiber& f = *e->cur;
  Warp& w = e->warps[f.ctx.warp];
  if (w.lanes != 32) Fault("%s in a warp of %d threads (the block size is not a multiple of 32)", op, w.lanes);
  if (w.live != 32) Fault("%s with %d lane(s) of the warp exited", op, 32 - w.live);
  if (w.arrived == 0) {
    w.op = op;
  } else if (std::strcmp(w.op, op) != 0) {
    Fault("divergent warp: this lane is at %s while %d lane(s) wait at %s", op, w.arrived, w.op);
  }
  w.slots[f.ctx.lane] = mine;
  if (++w.arrived == 32) {
    complete(w.slots);
    w.arrived = 0;
    w.op = nullptr;
    const size_t lo = size_t(f.ctx.warp) * 32;
    for (size_t t = lo; t < lo + 32; ++t)
      if (e->fibers[t].state == Fiber::State::kAtWarpOp) e->fibers[t].state = Fiber::State::kReady;
    return;
  }
  f.state = Fiber::State::kAtWarpOp;
  Yield(f);
}

void SyncWarp(unsigned mask) {
  if (mask != 0xffffffffu) Fault("__syncwarp(0x%08x): the emulator supports only the full warp mask", mask);
  WarpCollective("__syncwarp", nullptr, [](void* const*) {});
}

bool InSharedMemory(const void* p, size_t bytes) {
  const ThreadCtx* t = t_thread;
  if (!t || !t->dyn_smem) return false;
  const auto* c = static_cast<const unsigned char*>(p);
  return c >= t->dyn_smem && c + bytes <= t->dyn_smem + t->dyn_smem_bytes;
}

void CpAsync(void* dst, const void* src, int bytes, int src_bytes) {
  Executor* e = t_exec;
  if (!e || !e->cur) Fault("cp.async outside a kernel");
  if (bytes != 16) Fault("cp.async of %d bytes: the kernels use 16-byte copies only", bytes);
  if (src_bytes < 0 || src_bytes > bytes) Fault("cp.async: src-size %d outside [0, %d]", src_bytes, bytes);
  if (reinterpret_cast<uintptr_t>(dst) % 16 || reinterpret_cast<uintptr_t>(src) % 16)
    Fault("cp.async: addresses must be 16-byte aligned (shared %p, global %p)", dst, src);
  if (!InSharedMemory(dst, size_t(bytes))) Fault("cp.async: destination %p is not in the block's shared memory", dst);
#if defined(__SANITIZE_ADDRESS__)
  // The copy lands later, at its wait: check the source now, so that the fault names this copy.
  if (src_bytes && __asan_region_is_poisoned(const_cast<void*>(src), size_t(src_bytes)))
    Fault("cp.async: source %p..+%d is outside any allocation (AddressSanitizer)", src, src_bytes);
#endif
  e->cur->copies.push_back(
      {static_cast<unsigned char*>(dst), static_cast<const unsigned char*>(src), bytes, src_bytes});
}

void CpAsyncCommit() {
  Executor* e = t_exec;
  if (!e || !e->cur) Fault("cp.async.commit_group outside a kernel");
  e->cur->group_ends.push_back(e->cur->copies.size());
}

void CpAsyncWait(int newest_pending_allowed) {
  Executor* e = t_exec;
  if (!e || !e->cur) Fault("cp.async.wait_group outside a kernel");
  Fiber& f = *e->cur;
  const size_t groups = f.group_ends.size();
  if (groups <= size_t(std::max(0, newest_pending_allowed))) return;
  const size_t land = groups - size_t(std::max(0, newest_pending_allowed));
  const size_t count = f.group_ends[land - 1];
  LandCopies(f, count);
  f.group_ends.erase(f.group_ends.begin(), f.group_ends.begin() + long(land));
  for (size_t& g : f.group_ends) g -= count;
}

int PlantedFault() {
  int v = g_planted.load();
  if (v < 0) {
    const char* env = std::getenv("VGGNET_CUDA_EMU_FAULT");
    v = env ? std::atoi(env) : 0;
    g_planted.store(v);
  }
  return v;
}

void SetPlantedFault(int fault) { g_planted.store(fault); }

const char* KernelNameFrom(const char* pretty) {
  // "... KernelName() [with auto K = vgg::cuda::{anonymous}::conv2d_x<64>]" -> "conv2d_x<64>"
  std::string s = pretty;
  const size_t k = s.find("K = ");
  if (k != std::string::npos) s = s.substr(k + 4);
  if (!s.empty() && s.back() == ']') s.pop_back();
  const size_t lt = s.find('<');
  const size_t colons = s.rfind("::", lt);
  if (colons != std::string::npos) s = s.substr(colons + 2);
  return strdup(s.c_str());  // one per kernel, kept for the process
}

int RunKernel(const LaunchSpec& spec, void (*thread_main)(void*), void* ctx) {
  static std::mutex launch_mu;  // one kernel at a time, whichever host thread launches it
  std::lock_guard<std::mutex> launch_lock(launch_mu);
  const unsigned long long threads = 1ull * spec.block.x * spec.block.y * spec.block.z;
  if (threads == 0 || threads > kMaxThreads || spec.block.z > 64 || spec.grid.x == 0 || spec.grid.y == 0 ||
      spec.grid.z == 0 || spec.grid.y > 65535 || spec.grid.z > 65535 || spec.grid.x > 0x7fffffffu) {
    ReportLaunchError(spec.kernel, "invalid configuration");
    return 9;  // cudaErrorInvalidConfiguration
  }
  if (spec.smem > DynamicSmemLimit(spec.kernel_fn)) {
    ReportLaunchError(spec.kernel, "dynamic shared memory over the limit");
    return 9;
  }
  const unsigned long long nblocks = 1ull * spec.grid.x * spec.grid.y * spec.grid.z;
  std::atomic<unsigned long long> next{0};
  std::atomic<bool> stop{false};
  std::mutex fault_mu;
  std::string fault;
  const std::function<void()> job = [&] {
    Executor& e = ThisExecutor();
    Executor* saved = t_exec;
    t_exec = &e;
    e.spec = &spec;
    e.thread_main = thread_main;
    e.main_ctx = ctx;
    e.faulted = false;
    while (e.fibers.size() < threads) {
      e.fibers.emplace_back();
      e.fibers.back().stack = std::make_unique<FiberStack>(kStackBytes);
    }
    e.smem_bytes = spec.smem;
    if (e.smem.size() < spec.smem + 128) e.smem.resize(spec.smem + 128);
    e.smem_base =
        spec.smem
            ? reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(e.smem.data()) + 127) & ~uintptr_t(127))
            : nullptr;
    for (unsigned long long i; !stop.load(std::memory_order_relaxed) && (i = next++) < nblocks;) {
      const uint3 bid{unsigned(i % spec.grid.x), unsigned(i / spec.grid.x % spec.grid.y),
                      unsigned(i / (1ull * spec.grid.x * spec.grid.y))};
      RunBlock(e, bid);
      if (e.faulted) {
        std::lock_guard<std::mutex> lock(fault_mu);
        if (fault.empty()) fault = e.fault;
        stop = true;
      }
    }
    t_exec = saved;
  };
  const int n = int(std::min<unsigned long long>(nblocks, (unsigned long long)HostThreads()));
  if (n <= 1) job();
  else BlockPool::Get().Run(n, job);
  if (!fault.empty()) ReportKernelFault(fault);
  return 0;
}

}  // namespace vgg::emu
