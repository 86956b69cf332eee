#include "report/output_folder.hpp"

#include "joulebench/process.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "joulebench/report.hpp"

namespace joulebench::report_detail {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kManifestHeader =
    "# joulebench report: joulebench wrote the files listed below, and replaces or removes only these.\n";

std::string error_text(int error) { return std::strerror(error); }

/// A name the manifest may list: relative, inside the folder, no "." or ".." parts.
bool safe_relative(const fs::path& path) {
  if (path.empty() || path.is_absolute()) return false;
  for (const auto& part : path) {
    if (part == "." || part == ".." || part.empty()) return false;
  }
  return true;
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

OutputFolder::OutputFolder(const fs::path& directory, bool force) : directory_(directory), force_(force) {
  try {
    create_folders(directory_);
  } catch (const fs::filesystem_error& e) {
    throw ReportError(fmt::format("cannot create {}: {}", directory_.string(), e.code().message()));
  }
  // The folder itself is the one the user named: a link to it is followed, nothing inside it is.
  fd_ = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) throw ReportError(fmt::format("cannot open {}: {}", directory_.string(), error_text(errno)));
  try {
    read_manifest();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

void OutputFolder::read_manifest() {
  // O_NONBLOCK: a FIFO of that name must not hang the report; only a regular file is a manifest.
  const int manifest = ::openat(fd_, kManifest, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (manifest >= 0) {
    const Descriptor owned(manifest);
    struct stat st {};
    std::string text;
    if (::fstat(manifest, &st) == 0 && S_ISREG(st.st_mode)) {
      char buffer[4096];
      for (ssize_t n; (n = ::read(manifest, buffer, sizeof buffer)) > 0;)
        text.append(buffer, static_cast<std::size_t>(n));
    }
    if (text.starts_with(kManifestHeader)) {
      std::istringstream lines(text.substr(kManifestHeader.size()));
      for (std::string line; std::getline(lines, line);) {
        if (safe_relative(line)) earlier_.insert(line);
      }
      listed_ = earlier_;
      return;
    }
  }
  std::error_code ec;
  if (!force_ && !fs::is_empty(directory_, ec)) {
    const bool earlier_version =
        fs::exists(directory_ / "index.html", ec) && fs::exists(directory_ / "figures" / "draw_all.gp", ec);
    throw FolderNotEmpty(
        earlier_version
            ? fmt::format("{} holds a report of an earlier joulebench, which kept no list of the files it wrote: force "
                          "the report to write over it (files of other names are left alone), or remove it",
                          directory_.string())
            : fmt::format("{} is not empty and holds no earlier joulebench report: write the report to a new or empty "
                          "folder, or force it to be written beside what is there (joulebench then replaces only "
                          "files of the names it writes)",
                          directory_.string()));
  }
  // Listed before anything is written: a report that fails part-way leaves a folder the next one
  // recognises as its own.
  write_manifest();
}

OutputFolder::~OutputFolder() {
  if (fd_ >= 0) ::close(fd_);
}

int OutputFolder::open_folder(const fs::path& relative, bool create) {
  int current = ::dup(fd_);
  if (current < 0) throw ReportError(fmt::format("cannot open {}: {}", directory_.string(), error_text(errno)));
  fs::path walked;
  for (const auto& part : relative) {
    walked /= part;
    bool made = false;
    if (create) {
      made = ::mkdirat(current, part.c_str(), 0755) == 0;
      if (!made && errno != EEXIST) {
        const int error = errno;
        ::close(current);
        throw ReportError(fmt::format("cannot create {}: {}", (directory_ / walked).string(), error_text(error)));
      }
    }
    const int next = ::openat(current, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const int error = errno;
    if (made) hand_to_invoking_user(next);
    ::close(current);
    if (next < 0) {
      if (!create) return -1;
      throw ReportError(error == ELOOP || error == ENOTDIR
                            ? fmt::format("{} is a symbolic link or not a folder: joulebench writes nothing through "
                                          "links; remove it or choose another output folder",
                                          (directory_ / walked).string())
                            : fmt::format("cannot open {}: {}", (directory_ / walked).string(), error_text(error)));
    }
    current = next;
  }
  return current;
}

void OutputFolder::write(const fs::path& relative, std::string_view text) {
  const std::string key = relative.generic_string();
  if (!listed_.contains(key)) {
    listed_.insert(key);
    write_manifest();
  }
  write_file(relative, text);
  written_.insert(key);
}

void OutputFolder::write_file(const fs::path& relative, std::string_view text) {
  const std::string key = relative.generic_string();
  const fs::path shown = directory_ / relative;
  const Descriptor folder(open_folder(relative.parent_path(), true));
  const std::string name = relative.filename().string();
  struct stat st {};
  const bool existed = ::fstatat(folder.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (existed) {
    if (S_ISLNK(st.st_mode)) {
      throw ReportError(
          fmt::format("{} is a symbolic link: joulebench writes nothing through links; remove it", shown.string()));
    }
    if (!S_ISREG(st.st_mode)) throw ReportError(fmt::format("{} exists and is not a regular file", shown.string()));
    if (st.st_nlink > 1) {
      throw ReportError(
          fmt::format("{} has other hard links, which writing it would change too: remove it", shown.string()));
    }
    const bool ours = earlier_.contains(key) || written_.contains(key) || key == kManifest;
    if (!force_ && !ours) {
      throw FolderNotEmpty(fmt::format(
          "{} exists and joulebench did not write it: remove it, or force the report to replace it", shown.string()));
    }
  }
  const int fd = ::openat(folder.get(), name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) throw ReportError(fmt::format("cannot write {}: {}", shown.string(), error_text(errno)));
  const Descriptor file(fd);
  if (!existed) hand_to_invoking_user(fd);
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw ReportError(fmt::format("cannot write {}: {}", shown.string(), error_text(errno)));
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void OutputFolder::write_manifest() {
  std::string manifest(kManifestHeader);
  for (const auto& key : listed_) manifest += key + "\n";
  write_file(kManifest, manifest);
}

void OutputFolder::finish() {
  for (const auto& key : earlier_) {
    if (written_.contains(key)) continue;
    // Only a regular file where the earlier report wrote one goes; a folder on the way that is now
    // a link, or a name someone replaced with a link, is left alone.
    const fs::path relative(key);
    const int folder = open_folder(relative.parent_path(), false);
    if (folder < 0) continue;
    const Descriptor owned(folder);
    const std::string name = relative.filename().string();
    struct stat st {};
    if (::fstatat(folder, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      ::unlinkat(folder, name.c_str(), 0);
  }
  listed_ = written_;
  write_manifest();
}

}  // namespace joulebench::report_detail
