#include "core/thread_priority.h"

#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <thread>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace vgg {

int ComputeNiceIncrement() {
  static const int increment = [] {
    const char* v = std::getenv("VGGNET_COMPUTE_NICE");
    if (!v || !*v) return 5;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return (*end == '\0' && n >= 0 && n <= 19) ? int(n) : 5;  // a bad value keeps the default
  }();
  return increment;
}

#if defined(__linux__)
namespace {

int Tid() { return int(syscall(SYS_gettid)); }

// A thread's nice value into *nice; false when it cannot be read (getpriority returns -1 for nice -1 too).
bool NiceOf(int tid, int* nice) {
  errno = 0;
  *nice = getpriority(PRIO_PROCESS, id_t(tid));
  return errno == 0;
}

bool SetNice(int tid, int nice) { return setpriority(PRIO_PROCESS, id_t(tid), nice) == 0; }

int Lowered(int nice, int increment) {
  const int n = nice + increment;
  return n > 19 ? 19 : n;
}

// Whether this process may raise a thread's priority back from Lowered(nice) to nice: RLIMIT_NICE allows
// nice values down to 20 - rlim_cur; CAP_SYS_NICE allows any (probed by doing it on a thread of our own).
bool CanRestore(int nice) {
  rlimit r{};
  if (getrlimit(RLIMIT_NICE, &r) == 0 && (r.rlim_cur == RLIM_INFINITY || 20 - long(r.rlim_cur) <= nice)) return true;
  static const bool privileged = [] {
    bool ok = false;
    try {
      std::thread probe([&ok] {  // a thread of our own: it may end lowered
        const int tid = Tid();
        int base = 0;
        ok = NiceOf(tid, &base) && base < 19 && SetNice(tid, base + 1) && SetNice(tid, base);
      });
      probe.join();
    } catch (const std::system_error&) {}
    return ok;
  }();
  return privileged;
}

}  // namespace

void LowerThisThread(int increment) {
  if (increment <= 0) return;
  const int tid = Tid();
  int nice = 0;
  if (NiceOf(tid, &nice)) SetNice(tid, Lowered(nice, increment));
}

ScopedComputePriority::ScopedComputePriority() {
  if (ComputeNiceIncrement() == 0) return;
  const int tid = Tid();
  int nice = 0;
  if (!NiceOf(tid, &nice) || !CanRestore(nice)) return;
  restore_ = nice;
  lowered_ = SetNice(tid, Lowered(nice, ComputeNiceIncrement()));
}

ScopedComputePriority::~ScopedComputePriority() {
  if (lowered_) SetNice(Tid(), restore_);
}
#else
void LowerThisThread(int) {}
ScopedComputePriority::ScopedComputePriority() {}
ScopedComputePriority::~ScopedComputePriority() {}
#endif

}  // namespace vgg
