// A small persistent thread pool for the CPU backend: T-1 workers plus the calling thread. Idle workers
// block on a condition variable (no spinning). One job at a time; concurrent callers are serialised.
#pragma once
#include <condition_variable>
#include <cstdint>
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

  // Runs fn(task) for task in [0, tasks) over the pool; returns when all are done. Tasks are handed out
  // in order from a shared counter, so task i may run on any thread. fn must not throw.
  template <class F>
  void Run(int tasks, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    RunImpl(tasks, [](void* ctx, int task) { (*static_cast<Fn*>(ctx))(task); }, &fn);
  }

 private:
  using TaskFn = void (*)(void* ctx, int task);
  void RunImpl(int tasks, TaskFn fn, void* ctx);
  void WorkerLoop();
  void Drain();  // runs tasks of the current job until none are left

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // serialises RunImpl callers

  std::mutex mu_;
  std::condition_variable wake_cv_, done_cv_;
  uint64_t generation_ = 0;  // bumped for each job
  bool stop_ = false;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int tasks_ = 0;
  int next_ = 0;     // next task to hand out (guarded by mu_)
  int pending_ = 0;  // tasks not finished yet (guarded by mu_)
};

}  // namespace vgg::cpu
