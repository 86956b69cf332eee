// A system user made for a test (useradd) and removed after it: how a workload runs under sudo.
#pragma once

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "fakes/cli_runner.hpp"

namespace joulebench::testing {

/// A user made for the test and removed after it; nothing where the test cannot make one.
class TestUser {
 public:
  TestUser() {
    if (::geteuid() != 0 || ::access("/usr/sbin/useradd", X_OK) != 0) return;
    name_ = "jbtest" + std::to_string(::getpid());
    if (std::system(("/usr/sbin/useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin " + name_ +
                     " >/dev/null 2>&1")
                        .c_str()) != 0) {
      name_.clear();
      return;
    }
    const passwd* entry = ::getpwnam(name_.c_str());
    if (entry == nullptr) return;
    uid_ = entry->pw_uid;
    gid_ = entry->pw_gid;
  }
  ~TestUser() {
    if (!name_.empty()) [[maybe_unused]]
      const int removed = std::system(("/usr/sbin/userdel " + name_ + " >/dev/null 2>&1").c_str());
  }
  TestUser(const TestUser&) = delete;
  TestUser& operator=(const TestUser&) = delete;
  bool made() const { return uid_ != 0; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  const std::string& name() const { return name_; }
  Env sudo() const {
    return {{"SUDO_UID", std::to_string(uid_)}, {"SUDO_GID", std::to_string(gid_)}, {"SUDO_USER", name_}};
  }

 private:
  std::string name_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

}  // namespace joulebench::testing
