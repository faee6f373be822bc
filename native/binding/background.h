// Background work that must not starve the JS thread: weight packing and staging run on a thread of lower
// scheduling priority (Linux: nice + 10, core/thread_priority.h), so on a host with every core busy the event loop
// still gets a core when its timers fire. Elsewhere the work runs at normal priority.
#pragma once
#include <functional>

namespace vggjs {

// Runs fn on a new thread of lower priority and waits for it (on the libuv pool thread that calls it);
// runs fn on the calling thread when no thread can be started. fn must not throw.
void RunInBackground(const std::function<void()>& fn);

}  // namespace vggjs
