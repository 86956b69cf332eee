// The folder a report is written into, and the one rule for touching it: joulebench replaces or
// removes only files it wrote there itself (a manifest keeps their names), and never reads or
// writes through a symbolic link inside the folder.
#pragma once

#include "joulebench/report.hpp"

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace joulebench::report_detail {

class OutputFolder {
 public:
  /// The file that lists what joulebench wrote in the folder.
  static constexpr const char* kManifest = kReportManifest;

  /// Opens `directory`, creating it if missing. Throws ReportError for a folder that is not empty
  /// and holds no manifest of an earlier report (someone else's files), unless `force`.
  OutputFolder(const std::filesystem::path& directory, bool force);
  ~OutputFolder();
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const std::filesystem::path& path() const { return directory_; }

  /// Writes `relative` ("figures/box.gp") whole, creating its folders. Throws ReportError when a
  /// folder on the way or the file is a symbolic link, or the file exists and joulebench did not
  /// write it (unless forced).
  void write(const std::filesystem::path& relative, std::string_view text);
  /// A file another program will write (gnuplot's drawings): checked and created empty as `write`
  /// would, and recorded as joulebench's.
  void claim(const std::filesystem::path& relative) { write(relative, {}); }
  /// Removes the earlier report's files that this one did not write, then lists only what it wrote.
  void finish();

 private:
  /// Reads the manifest of an earlier report, or refuses a folder that is someone else's; then
  /// records the manifest, so a report that fails part-way leaves a folder the next recognises.
  void read_manifest();
  /// A descriptor of the folder `relative` (relative to the output folder), opened without
  /// following links; created if missing with `create`, else -1 when it is missing or a link.
  int open_folder(const std::filesystem::path& relative, bool create);
  /// Writes one file with every check of `write`, recording nothing.
  void write_file(const std::filesystem::path& relative, std::string_view text);
  /// Writes the manifest: the files listed so far.
  void write_manifest();

  std::filesystem::path directory_;
  bool force_ = false;
  int fd_ = -1;
  std::set<std::string> earlier_;  ///< the manifest found on opening
  std::set<std::string> written_;  ///< by this report
  std::set<std::string> listed_;   ///< in the manifest now: earlier_ and everything this report claimed
};

}  // namespace joulebench::report_detail
