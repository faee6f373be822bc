#include "binding/background.h"

#include <system_error>
#include <thread>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace vggjs {

void LowerThisThreadPriority() {
#if defined(__linux__)
  // On Linux setpriority(PRIO_PROCESS, tid) applies to one thread.
  const id_t tid = id_t(syscall(SYS_gettid));
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if (errno != 0) return;
  const int want = now + 10 > 19 ? 19 : now + 10;
  (void)setpriority(PRIO_PROCESS, tid, want);
#endif
}

void RunInBackground(const std::function<void()>& fn) {
  try {
    std::thread t([&fn] {
      LowerThisThreadPriority();
      fn();
    });
    t.join();
  } catch (const std::system_error&) { fn(); }
}

}  // namespace vggjs
