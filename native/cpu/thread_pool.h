// A small persistent thread pool for the CPU backend: T-1 workers plus the calling thread. One job at a
// time (concurrent callers are serialised). Tasks are claimed one by one from a shared atomic counter,
// so a job split into more tasks than threads balances itself when a thread is slowed down (a shared
// host takes cores away from us at random). Idle workers spin for a short while (kSpin) before they
// block on a condition variable, so the back-to-back jobs of a forward pass do not pay a futex wake-up
// (tens of microseconds, up to a scheduler tick on a loaded host) each.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace vgg::cpu {

class ThreadPool {
 public:
  // threads >= 1: the total number of threads that run a job, the caller included.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Runs fn(task) or fn(task, thread) for task in [0, tasks) over the pool; returns when all are done.
  // Tasks are handed out in order from a shared counter, so task i may run on any thread; `thread` in
  // [0, threads()) names the thread running it (the caller is 0), e.g. to pick its scratch slice. No two
  // tasks run on the same `thread` at once. fn must not throw.
  template <class F>
  void Run(int tasks, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    if constexpr (std::is_invocable_v<Fn&, int, int>) {
      RunImpl(
          tasks, [](void* ctx, int task, int thread) { (*static_cast<Fn*>(ctx))(task, thread); }, &fn);
    } else {
      RunImpl(
          tasks, [](void* ctx, int task, int) { (*static_cast<Fn*>(ctx))(task); }, &fn);
    }
  }

 private:
  using TaskFn = void (*)(void* ctx, int task, int thread);
  // The job word packs generation (bits 40..63), task count (bits 20..39) and next task (bits 0..19):
  // a thread claims a task with one compare-and-swap that also proves the job is still the one it read.
  static constexpr int kTaskBits = 20;
  static constexpr uint64_t kTaskMask = (uint64_t(1) << kTaskBits) - 1;
  static constexpr int kSpin = 1 << 12;  // pause iterations (~50-200 µs, by CPU) before sleeping

  void RunImpl(int tasks, TaskFn fn, void* ctx);
  void RunJob(int tasks, TaskFn fn, void* ctx);  // tasks < 2^20
  void WorkerLoop(int thread);
  void Drain(uint64_t gen, int thread);  // runs tasks of job `gen` until none are left to claim

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // serialises RunImpl callers

  std::atomic<uint64_t> job_{0};
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> pending_{0};  // tasks of the current job not finished yet
  std::atomic<bool> stop_{false};

  std::mutex mu_;  // guards the sleeps below
  std::condition_variable wake_cv_, done_cv_;
  int sleepers_ = 0;             // workers blocked on wake_cv_ (guarded by mu_)
  bool caller_waiting_ = false;  // the caller blocked on done_cv_ (guarded by mu_)
};

// The process-wide pool of `threads` threads (created on first use, freed with its last user): every CPU
// backend of that size shares it, so several models in one process queue their jobs on the same threads
// instead of oversubscribing the cores. Throws std::system_error when threads cannot be started.
std::shared_ptr<ThreadPool> SharedThreadPool(int threads);

}  // namespace vgg::cpu
