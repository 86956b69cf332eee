// checkpoint.hpp: a trained network with dlib::serialize, behind a small header (what wrote it,
// for which model, after how many steps) so that infer refuses another model's file clearly.
#pragma once

#include <dlib/serialize.h>

#include <unistd.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "common.hpp"

namespace jbdlib {

inline constexpr const char* kCheckpointFormat = "joulebench-dlib checkpoint 1";

/// Fails before training rather than after it when the checkpoint's folder does not exist.
inline void require_checkpoint_folder(const std::filesystem::path& path) {
  const std::filesystem::path folder = path.parent_path();
  if (!folder.empty() && !std::filesystem::is_directory(folder))
    throw InputError("cannot write the checkpoint " + path.string() + ": no folder " + folder.string());
}

/// Writes FILE.partial-PID, then renames it: never a half-written checkpoint under the real name.
template <class Net>
void save_checkpoint(const std::filesystem::path& path, const std::string& model, long steps, Net& net) {
  const std::filesystem::path partial = path.string() + ".partial-" + std::to_string(::getpid());
  try {
    {
      std::ofstream out(partial, std::ios::binary);
      if (!out) throw std::runtime_error("cannot create " + partial.string());
      dlib::serialize(std::string(kCheckpointFormat), out);
      dlib::serialize(model, out);
      dlib::serialize(steps, out);
      dlib::serialize(net, out);
      out.close();
      if (!out) throw std::runtime_error("write failed");
    }
    std::filesystem::rename(partial, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    throw InputError("cannot write the checkpoint " + path.string() + ": " + e.what());
  }
}

/// Reads a checkpoint of `model` into `net`; returns the steps it was trained for.
template <class Net>
long load_checkpoint(const std::filesystem::path& path, const std::string& model, Net& net) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError("no checkpoint " + path.string() + ": run --phase train first");
  std::string format;
  std::string saved_model;
  long steps = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open the checkpoint " + path.string());
  const std::string foreign = path.string() + " is not a joulebench-dlib checkpoint";
  try {
    dlib::deserialize(format, in);
  } catch (const std::exception&) {  // a foreign file's first bytes read as a length
    throw InputError(foreign);
  }
  if (format != kCheckpointFormat) throw InputError(foreign);
  try {
    dlib::deserialize(saved_model, in);
    dlib::deserialize(steps, in);
    if (saved_model != model) throw InputError(path.string() + " holds a " + saved_model + " model, not " + model);
    dlib::deserialize(net, in);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    std::string reason = e.what();  // dlib's messages span lines
    std::replace(reason.begin(), reason.end(), '\n', ' ');
    throw InputError("cannot read the checkpoint " + path.string() + ": " + reason);
  }
  return steps;
}

}  // namespace jbdlib
