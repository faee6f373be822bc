#include "binding/background.h"

#include <system_error>
#include <thread>

#include "core/thread_priority.h"

namespace vggjs {

void RunInBackground(const std::function<void()>& fn) {
  try {
    std::thread t([&fn] {
      vgg::LowerThisThread(vgg::kBackgroundNice);
      fn();
    });
    t.join();
  } catch (const std::system_error&) { fn(); }
}

}  // namespace vggjs
