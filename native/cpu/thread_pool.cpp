#include "cpu/thread_pool.h"

#include <map>

#include "core/thread_priority.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VGG_CPU_RELAX() _mm_pause()
#else
#define VGG_CPU_RELAX() std::this_thread::yield()
#endif

namespace vgg::cpu {

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads) {
  workers_.reserve(size_t(threads_ - 1));
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  wake_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Drain(uint64_t gen, int thread) {
  uint64_t cur = job_.load(std::memory_order_acquire);
  for (;;) {
    if ((cur >> 40) != gen) return;
    const uint64_t next = cur & kTaskMask, tasks = (cur >> kTaskBits) & kTaskMask;
    if (next >= tasks) return;
    if (!job_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // The claimed task keeps the job alive (pending_ > 0), so fn_/ctx_ still describe it.
    fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), int(next), thread);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      if (caller_waiting_) done_cv_.notify_one();
    }
    cur = job_.load(std::memory_order_acquire);
  }
}

void ThreadPool::WorkerLoop(int thread) {
  LowerThisThread(ComputeNiceIncrement());  // below the process's event loop (core/thread_priority.h)
  uint64_t seen = 0;                        // generation of the last job this worker looked at
  for (;;) {
    uint64_t gen = job_.load(std::memory_order_acquire) >> 40;
    for (int i = 0; gen == seen && i < kSpin && !stop_.load(std::memory_order_relaxed); ++i) {
      VGG_CPU_RELAX();
      gen = job_.load(std::memory_order_acquire) >> 40;
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      ++sleepers_;
      wake_cv_.wait(lock, [&] { return stop_.load() || (job_.load() >> 40) != seen; });
      --sleepers_;
      if (stop_.load()) return;
      gen = job_.load(std::memory_order_acquire) >> 40;
    }
    if (stop_.load(std::memory_order_relaxed)) return;
    seen = gen;
    Drain(gen, thread);
  }
}

void ThreadPool::RunJob(int tasks, TaskFn fn, void* ctx) {
  fn_.store(fn, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  pending_.store(tasks, std::memory_order_relaxed);
  const uint64_t gen = ((job_.load(std::memory_order_relaxed) >> 40) + 1) & 0xFFFFFF;
  {
    // Under mu_, so a worker between its predicate check and its sleep cannot miss the new job.
    std::lock_guard<std::mutex> lock(mu_);
    job_.store((gen << 40) | (uint64_t(tasks) << kTaskBits), std::memory_order_release);
    if (sleepers_ > 0) wake_cv_.notify_all();
  }
  Drain(gen, 0);
  for (int i = 0; i < kSpin && pending_.load(std::memory_order_acquire) != 0; ++i) VGG_CPU_RELAX();
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_waiting_ = true;
    done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    caller_waiting_ = false;
  }
}

void ThreadPool::RunImpl(int tasks, TaskFn fn, void* ctx) {
  if (tasks <= 0) return;
  if (threads_ == 1 || tasks == 1) {
    for (int i = 0; i < tasks; ++i) fn(ctx, i, 0);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mu_);
  constexpr int kMaxTasks = int(kTaskMask);
  for (int base = 0; base < tasks; base += kMaxTasks) {
    const int n = tasks - base < kMaxTasks ? tasks - base : kMaxTasks;
    if (base == 0) {
      RunJob(n, fn, ctx);
    } else {  // more than 2^20 - 1 tasks: run them as several jobs with shifted indices
      struct Shift {
        TaskFn fn;
        void* ctx;
        int base;
      } sh{fn, ctx, base};
      RunJob(
          n,
          [](void* c, int t, int th) {
            auto* s = static_cast<Shift*>(c);
            s->fn(s->ctx, s->base + t, th);
          },
          &sh);
    }
  }
}

std::shared_ptr<ThreadPool> SharedThreadPool(int threads) {
  // Leaked on purpose: backends may outlive static destructors at process exit.
  static auto* mu = new std::mutex;
  static auto* pools = new std::map<int, std::weak_ptr<ThreadPool>>;
  std::lock_guard<std::mutex> lock(*mu);
  std::weak_ptr<ThreadPool>& slot = (*pools)[threads];
  std::shared_ptr<ThreadPool> pool = slot.lock();
  if (!pool) {
    pool = std::make_shared<ThreadPool>(threads);
    slot = pool;
  }
  return pool;
}

}  // namespace vgg::cpu
