// The structure layouts of the CPython versions the external sampler reads (cpython_layout.hpp).
#include "profile/cpython_layout.hpp"

#include <array>

#include <fmt/format.h>

namespace joulebench::detail {

namespace {

constexpr CPythonLayout kCPython311{
    .version = {3, 11},
    .runtime_interpreters_main = 48,
    .interpreter_threads_head = 16,
    .thread_next = 8,
    .thread_cframe = 56,
    .thread_id = 152,
    .thread_datastack_chunk = 296,
    .thread_datastack_top = 304,
    .thread_read = 312,
    .cframe_current_frame = 8,
    .frame_code = 32,
    .frame_previous = 48,
    .frame_prev_instr = 56,
    .frame_owner = 69,
    .frame_read = 70,
    .frame_owned_by_generator = 1,
    .frame_owned_by_cstack = 0xff,  // none in 3.11
    .object_type = 8,
    .code_firstlineno = 72,
    .code_filename = 112,
    .code_qualname = 128,
    .code_firsttraceable = 168,
    .code_adaptive = 184,
    .unicode_length = 16,
    .unicode_state = 32,
    .unicode_ascii_data = 48,
    .unicode_compact_data = 72,
};

constexpr CPythonLayout kCPython312{
    .version = {3, 12},
    .runtime_interpreters_main = 48,
    .interpreter_threads_head = 72,
    .thread_next = 8,
    .thread_cframe = 56,
    .thread_id = 136,
    .thread_datastack_chunk = 232,
    .thread_datastack_top = 240,
    .thread_read = 248,
    .cframe_current_frame = 0,
    .frame_code = 0,
    .frame_previous = 8,
    .frame_prev_instr = 56,
    .frame_owner = 70,
    .frame_read = 71,
    .frame_owned_by_generator = 1,
    .frame_owned_by_cstack = 3,
    .object_type = 8,
    .code_firstlineno = 68,
    .code_filename = 112,
    .code_qualname = 128,
    .code_firsttraceable = 176,
    .code_adaptive = 192,
    .unicode_length = 16,
    .unicode_state = 32,
    .unicode_ascii_data = 40,
    .unicode_compact_data = 56,
};

constexpr std::array kLayouts{&kCPython311, &kCPython312};

}  // namespace

const CPythonLayout* layout_for(PythonVersion version) {
  for (const CPythonLayout* layout : kLayouts) {
    if (version.major == layout->version.major && version.minor == layout->version.minor) return layout;
  }
  return nullptr;
}

std::string known_versions() {
  std::string out;
  for (const CPythonLayout* layout : kLayouts) {
    out += fmt::format("{}{}.{}", out.empty() ? "" : ", ", layout->version.major, layout->version.minor);
  }
  return out;
}

PythonVersion decode_py_version(std::uint64_t hex) {
  return {static_cast<int>((hex >> 24) & 0xff), static_cast<int>((hex >> 16) & 0xff)};
}

}  // namespace joulebench::detail
