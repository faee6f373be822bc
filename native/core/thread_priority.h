// Threads that compute or load run below the process's own priority, so that the process's latency-bound
// thread (Node's event loop: health checks, refusals, timers) is scheduled first when both are runnable; when
// it is idle they have every core as before. On a loaded 2-core host a health check under a vgg16 server's
// overload otherwise waits tens of ms for a core (bench/RESULTS.md, `vggnet serve` under overload).
// Linux only (elsewhere these do nothing): there setpriority(PRIO_PROCESS, tid) sets one thread's nice value.
#pragma once

namespace vgg {

// Nice levels below the process: background work (packing weights, the loader thread), for which a
// forward never waits.
constexpr int kBackgroundNice = 10;

// Nice levels a forward's compute threads run below the process: VGGNET_COMPUTE_NICE, an integer 0..19,
// read once; default 5 (CFS weight 335 against 1024: a third of a nice-0 thread's share). 0 turns it off.
int ComputeNiceIncrement();

// Lowers the calling thread for good by `increment` nice levels (at most to 19): for threads that do nothing
// else (a pool worker, a thread started for background work). Best effort: a refusal leaves it as it was.
void LowerThisThread(int increment);

// Lowers the calling thread by ComputeNiceIncrement() while it lives, then restores its nice value: for a
// thread that computes only for a while (the libuv thread running a forward). Where the process may not raise
// a thread's priority back (no CAP_SYS_NICE and an RLIMIT_NICE that forbids it) it leaves the thread as it
// is, so a borrowed thread never stays lowered.
class ScopedComputePriority {
 public:
  ScopedComputePriority();
  ~ScopedComputePriority();
  ScopedComputePriority(const ScopedComputePriority&) = delete;
  ScopedComputePriority& operator=(const ScopedComputePriority&) = delete;

 private:
  int restore_ = 0;
  bool lowered_ = false;
};

}  // namespace vgg
