// A workload of a user's own, built against the installed header (tests/packaging/install_test.sh).
#include "joulebench/events.hpp"

int main() {
  joulebench::events::Region work("work");
  joulebench::events::metric("answer", 42.0);
  return 0;
}
